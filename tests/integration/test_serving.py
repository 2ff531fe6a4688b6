"""Model services for real: a tiny model deployed on the local engine by the controller's
pass, called through the platform's /v1 gateway over HTTP with the official openai client,
streaming and not; a revoked key gets 401, an over-limit key 429 with Retry-After; killing
one of two replicas under load loses no request; rollback serves the previous version."""

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from backend.models import AuditEvent, Deployment, Replica
from backend.services.identity import api_keys
from backend.services.serving import deployments as serving
from backend.services.serving import gateway
from tests.clock_minute import with_seconds_left
from tests.integration.api_server import serve_api
from tests.integration.serving_world import register_tiny, stop_replicas, streamed_hello, usage_rows
from tests.unit.identity_world import add_tenant, add_user, sign

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(runtime):
    """The platform's API on a real port, and a tenant with a developer, a key and a tiny model."""
    with serve_api(runtime) as url:
        yield from _platform(runtime, url)


def _platform(runtime, url):
    tenant = add_tenant(runtime, "huashan")
    _, dev = sign(runtime, add_user(runtime, "dev@huashan.cn", [(tenant, "developer")]))
    versions = [register_tiny(runtime, dev, v=v) for v in (1, 2)]
    with runtime.session() as session:
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="app", scopes=["models:invoke"])
    yield runtime, dev, versions, token, f"{url}/v1"
    stop_replicas(runtime)


def _pass(runtime):
    with runtime.session() as session:
        serving.reconcile(session, runtime.compute)


def _until_ready(runtime, deployment_id, replicas=1, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        _pass(runtime)
        with runtime.session() as session:
            deployment = session.get(Deployment, deployment_id)
            ready = session.exec(
                select(Replica).where(
                    Replica.deployment_id == deployment_id,
                    Replica.status == "ready",
                    Replica.model_version_id == deployment.model_version_id,
                )
            ).all()
            old = session.exec(
                select(Replica).where(
                    Replica.deployment_id == deployment_id, Replica.model_version_id != deployment.model_version_id
                )
            ).all()
        if deployment.status == "ready" and len(ready) >= replicas and not old:
            return deployment, ready
        assert deployment.status != "failed", deployment.reason
        assert time.monotonic() < deadline, f"{deployment.status}: {deployment.reason}"
        time.sleep(0.3)


def _deploy(runtime, dev, version, replicas=1, name="tiny-chat", max_model_len=256, **more):
    spec = serving.DeploySpec(
        name, version, replicas=replicas, cpu=1, memory_gb=1, max_model_len=max_model_len, **more
    )  # fmt: skip
    with runtime.session() as session:
        return serving.deploy(session, dev, spec).id


def test_the_openai_client_talks_to_a_deployed_model_through_the_gateway(platform):
    runtime, dev, versions, token, base_url = platform
    deployment_id = _deploy(runtime, dev, versions[0])
    _until_ready(runtime, deployment_id)
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=60)
    assert [m.id for m in client.models.list().data if m.model_extra["kind"] == "chat"] == ["tiny-chat"]
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "高血压患者饮食？"}], max_tokens=8, temperature=0
    )
    assert answer.usage.completion_tokens > 0 and answer.choices[0].finish_reason in ("stop", "length")
    chunks = streamed_hello(client, "tiny-chat")
    assert chunks and all(c.usage is None for c in chunks)  # the client did not ask for the usage chunk
    asked = streamed_hello(client, "tiny-chat", stream_options={"include_usage": True})
    assert asked[-1].usage.completion_tokens > 0 and not asked[-1].choices  # asked for: it arrives, last
    text = client.completions.create(model="tiny-chat", prompt="Blood pressure", max_tokens=4)
    assert text.choices[0].text is not None
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="tiny-chat", base_url=base_url, api_key=token, max_tokens=4, max_retries=0)
    reply = chat.invoke("血压高怎么办？")
    assert reply.usage_metadata["output_tokens"] > 0
    streamed = list(chat.stream("hello"))
    assert streamed
    rows = usage_rows(runtime, 6)
    assert sorted(r.endpoint for r in rows) == ["chat/completions"] * 5 + ["completions"]
    assert all(r.completion_tokens > 0 for r in rows)  # the stream too, from its usage chunk
    assert all(r.status == 200 and r.api_key_id for r in rows)
    with runtime.session() as session:
        (summary,) = gateway.usage(session, dev)
    assert (summary.model, summary.requests, summary.errors) == ("tiny-chat", 6, 0)
    assert summary.completion_tokens == sum(r.completion_tokens for r in rows)

    with runtime.session() as session:
        key_id = api_keys.list_api_keys(session, dev)[0].id
        api_keys.revoke_api_key(session, dev, key_id)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_limits_answer_429_with_retry_after(platform, monkeypatch):
    runtime, dev, versions, token, base_url = platform
    monkeypatch.setattr(runtime.settings, "gateway_key_requests_per_minute", 2)
    deployment_id = _deploy(runtime, dev, versions[0])
    _until_ready(runtime, deployment_id)
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    headers = {"Authorization": f"Bearer {token}"}
    with_seconds_left(15)  # all three in the same minute
    answers = [httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=60) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert answers[2].json()["error"]["code"] == "RATE_LIMITED"


def test_a_service_falls_back_to_its_standby_within_the_standbys_own_limit(platform):
    runtime, dev, versions, token, base_url = platform
    standby_id = _deploy(runtime, dev, versions[1], name="tiny-standby", requests_per_minute=2)
    primary_id = _deploy(runtime, dev, versions[0], standby="tiny-standby", requests_per_minute=1)
    _until_ready(runtime, standby_id)
    _, (primary,) = _until_ready(runtime, primary_id)
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    headers = {"Authorization": f"Bearer {token}"}

    def ask() -> httpx.Response:
        return httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=60)

    with_seconds_left(20)  # the four calls in one minute of the limits
    first, second = ask(), ask()  # the primary at its 1 a minute hands the second to its standby
    os.killpg(int(primary.compute_ref.split(":")[0]), signal.SIGKILL)  # no controller pass: still routed
    third, fourth = ask(), ask()  # the primary is down: the standby answers, then is at its own 2
    assert [a.status_code for a in (first, second, third)] == [200, 200, 200]
    assert fourth.status_code == 429 and 0 < int(fourth.headers["Retry-After"]) <= 60
    assert "the service's requests per minute" in fourth.json()["error"]["remedy"]
    rows = usage_rows(runtime, 3)
    assert [r.deployment_id for r in rows] == [primary_id, standby_id, standby_id]
    assert [r.model for r in rows] == ["tiny-chat", "tiny-standby", "tiny-standby"]  # the service that answered
    assert all(r.status == 200 for r in rows)


def _long_stream(platform):
    """One ready replica and a 2000-token stream through the gateway: (the replica, the open answer)."""
    runtime, dev, versions, token, base_url = platform
    _, (replica,) = _until_ready(runtime, _deploy(runtime, dev, versions[0], max_model_len=2048))
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2000}
    answer = httpx.stream(
        "POST",
        f"{base_url}/chat/completions",
        json={**body, "ignore_eos": True, "stream": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    return replica, answer


def test_a_client_that_hangs_up_mid_stream_stops_the_generation(platform):
    runtime = platform[0]
    replica, stream = _long_stream(platform)
    with stream as answer:
        assert answer.status_code == 200
        next(answer.iter_bytes())  # the first token: the client leaves
    deadline = time.monotonic() + 60
    while not (samples := _engine_samples(replica.url)).get(("vllm:request_success_total", "abort")):
        assert time.monotonic() < deadline, "the replica did not stop generating"
        time.sleep(0.2)
    assert 0 < samples[("vllm:generation_tokens_total", "")] < 2000  # stopped, not generated to the end unread
    assert samples[("vllm:num_requests_running", "")] == 0
    (row,) = usage_rows(runtime, 1)  # the gateway metered the request it relayed, as one the client closed
    assert (row.model, row.status) == ("tiny-chat", 499)
    assert row.prompt_tokens > 0 and 0 < row.completion_tokens < 2000  # what it used, from the last chunk relayed


def test_a_replica_that_dies_mid_stream_ends_the_stream_with_an_error_event(platform):
    runtime = platform[0]
    replica, stream = _long_stream(platform)
    with stream as answer:
        pieces = answer.iter_bytes()
        received = next(pieces)
        os.killpg(int(replica.compute_ref.split(":")[0]), signal.SIGKILL)
        received += b"".join(pieces)  # the stream still ends, and says why
    events = [e.removeprefix(b"data: ") for e in received.split(b"\n\n") if e]
    assert events[-1] == b"[DONE]" and json.loads(events[-2])["error"]["code"] == "UPSTREAM_FAILED"
    (row,) = usage_rows(runtime, 1)
    assert row.status == 502 and row.completion_tokens > 0  # the tokens it sent before it died


def test_a_client_that_leaves_before_a_whole_answer_stops_the_generation(platform):
    runtime, dev, versions, token, base_url = platform
    _, (replica,) = _until_ready(runtime, _deploy(runtime, dev, versions[0], max_model_len=2048))
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2000}
    payload, gateway_url = json.dumps({**body, "ignore_eos": True}).encode(), urlsplit(base_url)
    with socket.create_connection((gateway_url.hostname, gateway_url.port), timeout=30) as client:
        client.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {gateway_url.netloc}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        deadline = time.monotonic() + 60
        while not _engine_samples(replica.url).get(("vllm:time_to_first_token_seconds_count", "")):
            assert time.monotonic() < deadline, "the replica never started the answer"
            time.sleep(0.02)
    # the client has left before its answer was ready
    while not (samples := _engine_samples(replica.url)).get(("vllm:request_success_total", "abort")):
        assert time.monotonic() < deadline, "the replica did not stop generating"
        time.sleep(0.2)
    assert 0 < samples[("vllm:generation_tokens_total", "")] < 2000  # the gateway closed its call; the engine stopped
    (row,) = usage_rows(runtime, 1)
    assert (row.model, row.status, row.completion_tokens) == ("tiny-chat", 499, 0)


def _engine_samples(url: str) -> dict[tuple[str, str], float]:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    return {(s.name, s.labels.get("finished_reason", "")): s.value for f in families for s in f.samples}


def test_killing_a_replica_under_load_loses_no_request(platform):
    runtime, dev, versions, token, base_url = platform
    deployment_id = _deploy(runtime, dev, versions[0], replicas=2)
    _, ready = _until_ready(runtime, deployment_id, replicas=2)
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=60)

    def ask(_):
        return client.chat.completions.create(
            model="tiny-chat", messages=[{"role": "user", "content": "x"}], max_tokens=4
        ).usage.completion_tokens

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(ask, i) for i in range(24)]
        time.sleep(0.5)
        os.killpg(int(ready[0].compute_ref.split(":")[0]), signal.SIGKILL)
        results = [f.result() for f in futures]
    assert len(results) == 24 and all(n > 0 for n in results)
    killed, deadline = ready[0].ordinal, time.monotonic() + 120
    while True:  # the controller notices the dead process and starts the replica again
        _pass(runtime)
        with runtime.session() as session:
            replacement = session.exec(
                select(Replica).where(Replica.deployment_id == deployment_id, Replica.ordinal == killed)
            ).first()
        if replacement is not None and replacement.restarts >= 1:
            break
        assert time.monotonic() < deadline, "the dead replica was not restarted"
        time.sleep(0.3)
    _until_ready(runtime, deployment_id, replicas=2)
    with runtime.session() as session:
        restarts = session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.replica_restarted")).all()
        replicas = session.exec(select(Replica).where(Replica.deployment_id == deployment_id)).all()
    assert killed in [e.detail["ordinal"] for e in restarts]
    assert sorted(r.ordinal for r in replicas) == [0, 1]  # replaced once, not over-provisioned


def test_a_replica_scaled_away_finishes_its_answer_before_it_stops(platform):
    runtime, dev, versions, *_ = platform
    deployment_id = _deploy(runtime, dev, versions[0], replicas=2, max_model_len=2048)
    _, ready = _until_ready(runtime, deployment_id, replicas=2)
    leaving = max(ready, key=lambda r: r.ordinal)  # scaling down retires the highest ordinal
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1500}
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = _engine_samples(leaving.url).get(("vllm:time_to_first_token_seconds_count", ""), 0)
        stream = pool.submit(
            httpx.post, f"{leaving.url}/v1/chat/completions", json={**body, "ignore_eos": True}, timeout=120
        )
        while _engine_samples(leaving.url).get(("vllm:time_to_first_token_seconds_count", ""), 0) == started:
            time.sleep(0.02)  # generating
        with runtime.session() as session:
            serving.scale(session, dev, deployment_id, 1)
        seen, deadline = [], time.monotonic() + 120
        while True:
            _pass(runtime)
            with runtime.session() as session:
                left = session.get(Replica, leaving.id)
                routes = gateway.routes(session, dev, "tiny-chat")[0].urls
            if left is None:
                break
            seen.append((left.status, stream.done(), leaving.url in routes))
            assert time.monotonic() < deadline, "the retired replica was never stopped"
            time.sleep(0.3)
        answer = stream.result()
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 1500  # not cut short
    assert seen and all(status == "draining" and not routed for status, _, routed in seen)  # out of the routes
    assert not seen[0][1]  # it was still answering when it began to drain


def test_rolling_update_and_rollback(platform):
    runtime, dev, versions, token, base_url = platform
    deployment_id = _deploy(runtime, dev, versions[0])
    _until_ready(runtime, deployment_id)
    with runtime.session() as session:
        serving.update_version(session, dev, deployment_id, versions[1])
    deployment, ready = _until_ready(runtime, deployment_id)
    assert deployment.model_version_id == versions[1] and {r.model_version_id for r in ready} == {versions[1]}
    with runtime.session() as session:
        serving.rollback(session, dev, deployment_id)
    deployment, ready = _until_ready(runtime, deployment_id)
    assert deployment.model_version_id == versions[0] and {r.model_version_id for r in ready} == {versions[0]}
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=60)
    assert client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "x"}], max_tokens=2)


def test_a_replica_that_stops_answering_leaves_the_routes_and_is_replaced(platform):
    runtime, dev, versions, token, base_url = platform
    deployment_id = _deploy(runtime, dev, versions[0], replicas=2)
    _, ready = _until_ready(runtime, deployment_id, replicas=2)
    stuck = ready[0]
    os.killpg(int(stuck.compute_ref.split(":")[0]), signal.SIGSTOP)  # alive, but it answers nothing
    _pass(runtime)
    with runtime.session() as session:
        probed = session.get(Replica, stuck.id)
        routes = gateway.routes(session, dev, "tiny-chat")
    assert (probed.status, probed.failed_checks) == ("unhealthy", 1)
    assert stuck.url not in routes[0].urls and len(routes[0].urls) == 1  # the gateway skips it at once
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=60)
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "x"}], max_tokens=2
    )
    assert answer.usage.completion_tokens > 0
    for _ in range(serving.UNHEALTHY_AFTER - 1):
        _pass(runtime)
    deadline = time.monotonic() + 120
    while True:  # stopped after the third miss, then started again like any replica that died
        _pass(runtime)
        with runtime.session() as session:
            replacement = session.exec(
                select(Replica).where(Replica.deployment_id == deployment_id, Replica.ordinal == stuck.ordinal)
            ).first()
        if replacement is not None and replacement.id != stuck.id:
            break
        assert time.monotonic() < deadline, "the stuck replica was not replaced"
        time.sleep(0.3)
    _until_ready(runtime, deployment_id, replicas=2)
    with runtime.session() as session:
        flagged = session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.replica_unhealthy")).all()
    assert [e.detail["ordinal"] for e in flagged] == [stuck.ordinal]
