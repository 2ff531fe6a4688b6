"""The Deploy and Playground pages' own logic: the form as a deploy spec, gateway figures per
model, the streamed answer's events and the API snippets."""

import json

import pytest

from backend.adapters.chat_stream import gateway_error, parse_event
from backend.errors import ErrorCode, MedAIError
from backend.services.serving.gateway import UsageRow
from backend.services.serving.views import usage_by_model
from state.serving import FORM_DEFAULTS, NO_STANDBY, deploy_spec, engine_label
from state.serving_detail import curl_snippet, python_snippet


def test_the_form_becomes_a_typed_spec():
    form = {**FORM_DEFAULTS, "name": " bp-chat ", "replicas": "2", "cpu": "1.5", "standby": NO_STANDBY}
    spec = deploy_spec("v1", form)
    assert (spec.name, spec.model_version_id, spec.replicas, spec.cpu, spec.standby) == ("bp-chat", "v1", 2, 1.5, "")
    assert isinstance(spec.max_model_len, int) and spec.gpu_memory_utilization == 0.9
    assert deploy_spec("v1", {**form, "standby": "other"}).standby == "other"
    assert spec.engine_args == ()
    tuned = deploy_spec("v1", {**form, "engine_args": " --enforce-eager  --dtype 'bfloat16' "})
    assert tuned.engine_args == ("--enforce-eager", "--dtype", "bfloat16")
    with pytest.raises(MedAIError, match="cannot be read") as refused:
        deploy_spec("v1", {**form, "engine_args": "--dtype 'bfloat16"})
    assert refused.value.code is ErrorCode.DATA_INVALID


def test_the_engine_label_says_where_vllm_runs():
    assert [engine_label("vllm", 2), engine_label("vllm", 0), engine_label("local", 0)] == [
        "vLLM · 2 GPU",
        "vLLM · CPU",
        "local",
    ]


def test_a_non_number_is_refused_with_the_field_named():
    with pytest.raises(MedAIError) as raised:
        deploy_spec("v1", {**FORM_DEFAULTS, "name": "x", "memory_gb": "lots"})
    assert raised.value.code is ErrorCode.DATA_INVALID and "memory_gb" in raised.value.message


def test_usage_sums_keys_and_weights_latency_by_requests():
    rows = [
        UsageRow("a", "k1", 3, 10, 20, 1, 100.0),
        UsageRow("a", "", 1, 5, 5, 0, 500.0),
        UsageRow("b", "", 0, 0, 0, 0, 0),
    ]
    found = usage_by_model(rows)
    assert (found["a"].requests, found["a"].tokens, found["a"].errors, found["a"].latency_ms) == (4, 40, 1, 200.0)
    assert found["b"].latency_ms == 0.0


def test_stream_events_give_text_usage_and_the_end():
    chunk = {"choices": [{"delta": {"content": "低盐"}}], "usage": None}
    assert parse_event("data: " + json.dumps(chunk, ensure_ascii=False)).delta == "低盐"
    usage = parse_event('data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 7}}')
    assert usage.delta == "" and usage.usage == {"prompt_tokens": 3, "completion_tokens": 7}
    assert parse_event("data: [DONE]").done
    assert parse_event("") is None and parse_event(": keep-alive") is None
    assert parse_event('data: {"error": {"message": "replica gone"}}').error == "replica gone"


def test_gateway_errors_keep_their_code_and_remedy():
    body = json.dumps({"error": {"code": "RATE_LIMITED", "message": "Too many.", "remedy": "Wait."}}).encode()
    error = gateway_error(429, body)
    assert (error.code, error.message, error.remedy) == (ErrorCode.RATE_LIMITED, "Too many.", "Wait.")
    assert gateway_error(502, b"<html>").code is ErrorCode.UPSTREAM_FAILED
    engine = {"error": {"message": "this model's maximum context length is 512 tokens", "type": "x", "code": 400}}
    refused = gateway_error(400, json.dumps(engine).encode())  # an engine's own refusal keeps its reason
    assert refused.code is ErrorCode.DATA_INVALID and "maximum context length is 512" in refused.message


def test_snippets_name_the_service_and_base_url():
    base = "http://medai.example:3000/v1"
    assert f"{base}/chat/completions" in curl_snippet(base, "bp-chat") and '"model": "bp-chat"' in curl_snippet(
        base, "bp-chat"
    )
    python = python_snippet(base, "bp-chat")
    assert f'base_url="{base}"' in python and 'model="bp-chat"' in python
    compile(python, "snippet", "exec")
