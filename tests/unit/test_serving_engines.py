"""Which engine settings a service may be deployed with: vLLM with GPUs needs one per
tensor-parallel rank; vLLM with none is its CPU build, and its replica is told so."""

import json

import pytest

from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment
from backend.services import serving
from tests.unit.ops_world import build_ward


def test_vllm_needs_a_gpu_per_rank_or_none_at_all(runtime):
    ward = build_ward(runtime)
    with runtime.session() as session:
        version_id = session.get(Deployment, ward.deployment_id).model_version_id
    spec = serving.DeploySpec("tp-chat", version_id, engine="vllm", gpus=1, tensor_parallel_size=2)
    with pytest.raises(MedAIError) as refused, runtime.session() as session:
        serving.deploy(session, ward.dev, spec)
    assert refused.value.code is ErrorCode.DATA_INVALID and "0 for vLLM's CPU backend" in refused.value.remedy
    with runtime.session() as session:
        assert serving.list_deployments(session, ward.dev)[0].name == "xiangya-chat"  # nothing half written
        cpu = serving.deploy(session, ward.dev, serving.DeploySpec("cpu-chat", version_id, engine="vllm", memory_gb=16))
        launch = serving._launch(session, cpu, 0)
    served = json.loads(launch.spec_json)
    assert (launch.engine, launch.gpus, served["engine"], served["gpus"], served["memory_gb"]) == (
        "vllm",
        0,
        "vllm",
        0,
        16,
    )
