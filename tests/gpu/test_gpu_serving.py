"""Model services on a GPU: vLLM's CUDA build takes the flow the CPU build takes in CI (vllm_flow),
holding the share of GPU memory the deployment gives it; the local engine puts the model on the
GPU it was given. MEDAI_TEST_VLLM names the `vllm` executable of a CUDA build, MEDAI_TEST_VLLM_ARGS
the service's vLLM arguments where the host needs some (e.g. --enforce-eager)."""

import os
import shlex
from pathlib import Path

import openai
import pytest

from backend.adapters.gpus import read_gpus
from backend.services.identity import api_keys
from backend.services.serving import deployments as serving
from backend.settings import Settings
from tests.integration.api_server import serve_api
from tests.integration.serving_world import register_tiny, stop_replicas, until_ready
from tests.integration.vllm_flow import served_by_vllm
from tests.unit.identity_world import add_tenant, add_user, sign

VLLM = os.environ.get("MEDAI_TEST_VLLM", "")
VLLM_ARGS = tuple(shlex.split(os.environ.get("MEDAI_TEST_VLLM_ARGS", "")))


@pytest.fixture
def settings(tmp_path, clean_env, gpu_inventory) -> Settings:
    return Settings(data_dir=tmp_path / "data", vllm_executable=VLLM or "vllm", _env_file=None)


def test_vllm_on_a_gpu_answers_through_the_gateway_within_its_memory_share(runtime, gpu_inventory):
    if not VLLM:
        pytest.skip("set MEDAI_TEST_VLLM to the `vllm` executable of a CUDA build")
    total = gpu_inventory.gpus[0].memory_total_mib

    def holds_its_share(replica) -> None:  # gpu_memory_utilization 0.25: weights, activations and KV cache
        used = read_gpus().gpus[0].memory_used_mib
        assert 0.15 * total < used < 0.45 * total, (used, total)

    served_by_vllm(runtime, gpus=1, while_serving=holds_its_share, engine_args=VLLM_ARGS)


def test_the_local_engine_serves_from_the_gpu_it_was_given(runtime, gpu_inventory):
    tenant = add_tenant(runtime, "huashan")
    _, dev = sign(runtime, add_user(runtime, "dev@huashan.cn", [(tenant, "developer")]))
    version_id = register_tiny(runtime, dev, hidden=64)
    with runtime.session() as session:
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="app", scopes=["models:invoke"])
        spec = serving.DeploySpec("tiny-local", version_id, engine="local", gpus=1, max_model_len=256)
        deployment_id = serving.deploy(session, dev, spec).id
    with serve_api(runtime) as url:
        try:
            (replica,) = until_ready(runtime, deployment_id)
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=60)
            answer = client.chat.completions.create(
                model="tiny-local", messages=[{"role": "user", "content": "hello"}], max_tokens=5, temperature=0
            )
            assert answer.usage.completion_tokens >= 1
            log = (Path(replica.compute_ref.split(":", 2)[2]) / "worker.log").read_text()
            assert "model tiny-local loaded on cuda" in log
        finally:
            stop_replicas(runtime)
