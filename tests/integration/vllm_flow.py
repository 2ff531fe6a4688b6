"""One flow for vLLM, run on its CPU build in CI (test_vllm_engine) and with a GPU on a GPU
machine (tests/gpu): a tiny model deployed with the vllm engine is served by `vllm serve` and
answers through the platform's /v1 gateway with the official openai client, streaming and not;
usage is metered from vLLM's own usage figures, the dashboards read its Prometheus metrics, and
stopping the service ends every process vLLM started."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import psutil

from backend.models import Replica
from backend.runtime import Runtime
from backend.services.identity import api_keys
from backend.services.serving import deployments as serving
from backend.services.serving.engine_metrics import engine_fields
from tests.integration.api_server import serve_api
from tests.integration.serving_world import register_tiny, stop_replicas, streamed_hello, until_ready, usage_rows
from tests.unit.identity_world import add_tenant, add_user, sign

# vLLM's own sampling option, passed through by the gateway: the random tiny model could say its
# end-of-text token at any step, and the counts below are exact
ALL_TOKENS = {"ignore_eos": True}


def _group(replica: Replica) -> list[psutil.Process]:
    leader = int(replica.compute_ref.split(":", 1)[0])
    return [p for p in psutil.process_iter() if _pgid(p.pid) == leader]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def served_by_vllm(
    runtime: Runtime,
    gpus: int,
    while_serving: Callable[[Replica], None] = lambda r: None,
    engine_args: tuple[str, ...] = (),
) -> None:
    """The whole flow; ``while_serving`` checks more while the replica is up, ``engine_args`` are
    the service's vLLM arguments beside the one the flow sets."""
    tenant = add_tenant(runtime, "huashan")
    _, dev = sign(runtime, add_user(runtime, "dev@huashan.cn", [(tenant, "developer")]))
    version_id = register_tiny(runtime, dev, hidden=256)  # head size 64, as vLLM wants
    with runtime.session() as session:
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="app", scopes=["models:invoke"])
        spec = serving.DeploySpec(
            "tiny-vllm", version_id, engine="vllm", gpus=gpus, cpu=2, memory_gb=2, max_model_len=256,
            gpu_memory_utilization=0.25, engine_args=("--max-num-seqs=8", *engine_args),
        )  # fmt: skip
        deployment_id = serving.deploy(session, dev, spec).id
    with serve_api(runtime) as url:
        try:
            (replica,) = until_ready(runtime, deployment_id, timeout=600)
            log = (Path(replica.compute_ref.split(":", 2)[2]) / "worker.log").read_text()
            if gpus:  # vLLM takes that share of the GPU's memory
                assert "--gpu-memory-utilization 0.25" in log and "--kv-cache-memory-bytes" not in log
            else:  # a quarter of the replica's 2 GB, not of the host
                assert "--kv-cache-memory-bytes 536870912" in log
            assert "no chat template" in log  # the tiny tokenizer has none: vLLM gets the default
            assert "--max-num-seqs 8" in log  # the service's own vLLM arguments, one word each

            client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=120)
            assert [m.id for m in client.models.list().data if m.model_extra["kind"] == "chat"] == ["tiny-vllm"]
            answer = client.chat.completions.create(
                model="tiny-vllm",
                messages=[{"role": "user", "content": "高血压患者饮食？"}],
                max_tokens=8,
                temperature=0,
                extra_body=ALL_TOKENS,
            )
            assert answer.usage.completion_tokens == 8 and answer.choices[0].finish_reason == "length"
            chunks = streamed_hello(client, "tiny-vllm", extra_body=ALL_TOKENS)
            assert chunks and all(c.usage is None for c in chunks)  # the client did not ask for the usage chunk
            asked = streamed_hello(client, "tiny-vllm", stream_options={"include_usage": True}, extra_body=ALL_TOKENS)
            assert asked[-1].usage.completion_tokens == 6 and not asked[-1].choices
            text = client.completions.create(
                model="tiny-vllm", prompt="Blood pressure", max_tokens=4, extra_body=ALL_TOKENS
            )
            assert text.usage.completion_tokens == 4

            rows = usage_rows(runtime, 4)
            # the plain stream's too: the gateway asked vLLM for the usage chunk
            assert [r.completion_tokens for r in rows] == [8, 6, 6, 4]
            assert all(r.status == 200 and r.prompt_tokens > 0 for r in rows)

            fields = engine_fields(httpx.get(f"{replica.url}/metrics", timeout=10).text)
            assert fields["generation_tokens_total"] == 24 and fields["requests_total"] == 4
            assert fields["requests_running"] == 0 and "kv_cache_usage" in fields
            processes = _group(replica)
            assert len(processes) >= 2  # the API server and vLLM's engine core

            body = {"model": "tiny-vllm", "prompt": "Blood pressure", "max_tokens": 200, "stream": True, **ALL_TOKENS}
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.stream("POST", f"{url}/v1/completions", json=body, headers=headers) as cut:
                next(cut.iter_bytes())  # the first tokens, then the client leaves
            # metered with the usage so far that vLLM put in each chunk, once the gateway has seen the
            # client go (a busy host may take a while)
            left = usage_rows(runtime, 5, timeout=60)[-1]
            assert left.status == 499 and left.prompt_tokens > 0 and 0 < left.completion_tokens <= 200, left
            while_serving(replica)
        finally:
            stop_replicas(runtime)
    assert not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
