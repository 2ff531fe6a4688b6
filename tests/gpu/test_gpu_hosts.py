"""A GPU host as the platform sees it through NVML: the inventory, the dashboards' points and the
local cluster's node."""

import pytest

from backend.models.base import utcnow
from backend.services.ops import metrics as ops_metrics
from backend.services.orchestration import clusters
from tests.unit.identity_world import add_tenant, add_user, sign


def test_nvml_reads_the_gpus_and_the_local_cluster_lists_them(runtime, gpu_inventory):
    assert gpu_inventory.available and gpu_inventory.driver[0].isdigit()  # a version, not a reason
    for gpu in gpu_inventory.gpus:
        assert gpu.name.startswith("NVIDIA") and gpu.uuid.startswith("GPU-")
        assert gpu.memory_total_mib > 1024 and 0 <= gpu.memory_used_mib <= gpu.memory_total_mib
        assert 0 <= gpu.utilization_pct <= 100 and 0 < gpu.temperature_c < 110 and gpu.power_w > 0

    points = ops_metrics.gpu_points(gpu_inventory, "node-1", utcnow())
    assert [p.tags["gpu"] for p in points] == [str(g.index) for g in gpu_inventory.gpus]
    first, gpu = points[0], gpu_inventory.gpus[0]
    assert first.fields["mem_total_mib"] == gpu.memory_total_mib and first.tags["name"] == gpu.name
    assert first.fields["mem_pct"] == pytest.approx(100 * gpu.memory_used_mib / gpu.memory_total_mib)

    tenant = add_tenant(runtime, "huashan")
    _, dev = sign(runtime, add_user(runtime, "dev@huashan.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        (local,) = clusters.list_clusters(session, dev, runtime.settings)
        (step,) = clusters.test_connection(session, dev, runtime.settings)
    (node,) = local.nodes
    assert node.gpus == len(gpu_inventory.gpus) and gpu.name in node.gpu_type
    assert node.detail == f"driver {gpu_inventory.driver}"
    assert step.ok and f"{len(gpu_inventory.gpus)} GPU(s)" in step.detail
