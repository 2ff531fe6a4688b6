"""Cluster management: this host's inventory as it is (no GPU here says so), and a
Kubernetes connection test that names the failing step and its remedy."""

import pytest

from backend.errors import MedAIError
from backend.services.orchestration import clusters
from backend.settings import Settings
from tests.unit.identity_world import add_tenant, add_user, sign


@pytest.fixture
def dev(runtime):
    tenant = add_tenant(runtime, "ruijin")
    return sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))[1]


def test_the_local_host_reports_what_it_has(runtime, dev):
    with runtime.session() as session:
        (local,) = clusters.list_clusters(session, dev, runtime.settings)
        (step,) = clusters.test_connection(session, dev, runtime.settings)
    node = local.nodes[0]
    assert local.kind == "local" and node.cpu >= 1 and node.memory_gb > 0
    assert node.gpus == 0 and "no NVIDIA driver" in node.detail  # these machines have no GPU
    assert step.ok and "0 GPU(s)" in step.detail


def test_a_missing_kubeconfig_is_explained(runtime, dev, tmp_path):
    settings = Settings(
        data_dir=tmp_path, compute_backend="kubernetes", kubeconfig=str(tmp_path / "nope"), _env_file=None
    )
    with runtime.session() as session:
        steps = clusters.test_connection(session, dev, settings)
        listed = clusters.list_clusters(session, dev, settings)
    assert [(s.name, s.ok) for s in steps] == [("kubeconfig", False)] and "MEDAI_KUBECONFIG" in steps[0].remedy
    assert listed[1].reachable is False and "does not exist" in listed[1].detail


def test_an_unreachable_api_server_is_explained(runtime, dev, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:9'}\n"
        "users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
        "current-context: x\n"
    )
    settings = Settings(data_dir=tmp_path, compute_backend="kubernetes", kubeconfig=str(kubeconfig), _env_file=None)
    with runtime.session() as session:
        steps = clusters.test_connection(session, dev, settings)
    assert [(s.name, s.ok) for s in steps] == [("kubeconfig", True), ("API server", False)]
    assert "not reachable" in steps[1].detail and "network" in steps[1].remedy


def test_viewers_of_other_areas_are_refused(runtime):
    tenant = add_tenant(runtime, "huashan")
    _, clinician = sign(runtime, add_user(runtime, "c@huashan.cn", [(tenant, "clinician")]))
    with runtime.session() as session, pytest.raises(MedAIError):
        clusters.list_clusters(session, clinician, runtime.settings)
