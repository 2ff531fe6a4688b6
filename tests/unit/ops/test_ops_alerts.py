"""Alerts: a metric rule fires after its duration and the e-mail reaches a real SMTP server
(aiosmtpd, started here); a silence keeps the history row but notifies nobody; webhooks are
POSTed to a local HTTP server; event rules fire for a failed job and an unhealthy service."""

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from backend.adapters.metrics import Point
from backend.adapters.notify import Notifier, SmtpConfig
from backend.errors import MedAIError
from backend.models import AuditEvent, Deployment
from backend.models.base import utcnow
from backend.services.ops import alerts
from tests.unit.ops_world import build_ward, fail_job


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, Notifier(SmtpConfig("127.0.0.1", controller.port, "alerts@medai.local"))
    controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received, f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture
def ward(runtime):
    return build_ward(runtime)


def _cpu(runtime, value, at):
    runtime.metrics.write([Point("host", {"node": "n1"}, {"cpu_pct": value}, at)])


def _evaluate(runtime, notifier, now):
    with runtime.session() as session:
        alerts.evaluate(session, runtime.metrics, notifier, now)


def _history(runtime, who):
    with runtime.session() as session:
        return [(e.status, e.silenced, dict(e.deliveries)) for e in reversed(alerts.history(session, who))]


def test_a_metric_rule_fires_after_its_duration_mails_and_resolves(runtime, ward, smtp):
    inbox, notifier = smtp
    spec = alerts.RuleSpec(
        "CPU hot", "metric", "host", "cpu_pct", ">", 90, 60, severity="critical",
        channels=("inapp", "email"), emails=("oncall@xiangya.cn",),
    )  # fmt: skip
    with runtime.session() as session:
        rule_id = alerts.create_rule(session, ward.dev, spec).id
    now = utcnow()
    _cpu(runtime, 97.5, now)
    _evaluate(runtime, notifier, now)
    assert _history(runtime, ward.dev) == [] and inbox.messages == []  # pending: not yet 60 s
    later = now + timedelta(seconds=61)
    _cpu(runtime, 98.0, later)
    _evaluate(runtime, notifier, later)
    assert _history(runtime, ward.dev) == [("firing", False, {"inapp": "shown", "email": "sent to 1 recipient(s)"})]
    sender, recipients, mail = inbox.messages[0]
    assert sender == "alerts@medai.local" and recipients == ["oncall@xiangya.cn"]
    assert "[CRITICAL] firing: CPU hot" in mail and "host.cpu_pct = 98" in mail
    _evaluate(runtime, notifier, later + timedelta(seconds=1))  # still firing: no second mail
    assert len(inbox.messages) == 1
    calm = later + timedelta(seconds=5)
    _cpu(runtime, 12.0, calm)
    _evaluate(runtime, notifier, calm)
    assert [h[0] for h in _history(runtime, ward.dev)] == ["firing", "resolved"] and len(inbox.messages) == 2
    with runtime.session() as session:
        fired = session.exec(select(AuditEvent).where(AuditEvent.action == "alert.firing")).all()
        assert [(a.target_id, a.actor_label) for a in fired] == [(rule_id, "controller")]


def test_a_silence_keeps_history_but_sends_nothing(runtime, ward, smtp):
    inbox, notifier = smtp
    spec = alerts.RuleSpec(
        "CPU hot", "metric", "host", "cpu_pct", ">=", 50, channels=("email",), emails=("oncall@xiangya.cn",)
    )
    with runtime.session() as session:
        rule = alerts.create_rule(session, ward.dev, spec)
        alerts.silence(session, ward.dev, rule.id, 30, "planned load test")
    now = utcnow()
    _cpu(runtime, 80, now)
    _evaluate(runtime, notifier, now)
    assert _history(runtime, ward.dev) == [("firing", True, {})] and inbox.messages == []
    with runtime.session() as session:
        silence_id = alerts.list_silences(session, ward.dev)[0].id
        alerts.end_silence(session, ward.dev, silence_id)
        assert alerts.list_silences(session, ward.dev) == []


def test_webhook_delivery_and_event_rules(runtime, ward, webhook):
    received, url = webhook
    with runtime.session() as session:
        for event in ("job_failed", "service_unhealthy"):
            alerts.create_rule(
                session, ward.dev, alerts.RuleSpec(event, "event", event=event, channels=("webhook",), webhook_url=url)
            )
    fail_job(runtime, ward.job_id, "CUDA out of memory")
    with runtime.session() as session:
        deployment = session.get(Deployment, ward.deployment_id)
        deployment.status, deployment.reason = "failed", "replica 0 failed 5 times"
        session.add(deployment)
    now = utcnow() + timedelta(seconds=1)
    _evaluate(runtime, Notifier(None), now)
    _evaluate(runtime, Notifier(None), now + timedelta(seconds=1))  # each fires once
    by_rule = {p["rule"]: p for p in received}
    assert len(received) == 2 and set(by_rule) == {"job_failed", "service_unhealthy"}
    assert "CUDA out of memory" in by_rule["job_failed"]["message"]
    assert by_rule["job_failed"]["subject"] == {"type": "job", "id": ward.job_id}
    assert "xiangya-chat" in by_rule["service_unhealthy"]["message"]
    assert {h[2]["webhook"] for h in _history(runtime, ward.dev)} == {"delivered: HTTP 204"}


def test_rules_are_checked_and_need_the_right_role(runtime, ward):
    with runtime.session() as session:
        with pytest.raises(MedAIError, match="recipient"):
            spec = alerts.RuleSpec("x", "metric", "host", "cpu_pct", channels=("email",))
            alerts.create_rule(session, ward.dev, spec)
        with pytest.raises(MedAIError, match="measurement"):
            alerts.create_rule(session, ward.dev, alerts.RuleSpec("x", "metric", "disk", "cpu_pct"))
    with runtime.session() as session, pytest.raises(MedAIError, match="role"):
        alerts.silence(session, ward.clinician, None, 10)
