"""Model services in the integration tests: a tiny model registered from a folder it builds,
the controller's passes until a service is ready, the usage rows the gateway writes off the
response path, and every replica stopped at the end."""

from __future__ import annotations

import time
from typing import Any

from sqlmodel import select

from backend.models import Deployment, Replica, UsageRecord
from backend.runtime import Runtime
from backend.services.assets import model_registry
from backend.services.identity.access import Principal
from backend.services.serving import deployments as serving
from tests.tiny_model import build_model


def register_tiny(runtime: Runtime, principal: Principal, hidden: int = 32, **parameters: object) -> str:
    """A freshly built tiny model registered as a version of the model 'tiny'; returns its id."""
    roots = runtime.settings.model_import_roots
    folder = build_model(roots[0] / "tiny", hidden=hidden)
    with runtime.session() as session:
        spec = model_registry.VersionSpec(model_name="tiny", parameters=dict(parameters))
        return model_registry.register_version(
            session, runtime.objects, principal, spec, model_registry.folder_files(folder, roots), "path"
        ).id


def until_ready(runtime: Runtime, deployment_id: str, timeout: float = 240) -> list[Replica]:
    """The controller's passes until the service is ready; returns its replicas."""
    deadline = time.monotonic() + timeout
    while True:
        with runtime.session() as session:
            serving.reconcile(session, runtime.compute)
        with runtime.session() as session:
            deployment = session.get(Deployment, deployment_id)
            replicas = session.exec(select(Replica).where(Replica.deployment_id == deployment_id)).all()
        if deployment.status == "ready":
            return list(replicas)
        assert deployment.status != "failed", deployment.reason
        assert time.monotonic() < deadline, f"{deployment.status}: {deployment.reason}"
        time.sleep(0.3)


def usage_rows(runtime: Runtime, count: int, timeout: float = 10) -> list[UsageRecord]:
    """The gateway's usage rows, once ``count`` have been written (or the timeout has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        with runtime.session() as session:
            rows = list(session.exec(select(UsageRecord).order_by(UsageRecord.id)).all())
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def streamed_hello(client: Any, model: str, **options: Any) -> list[Any]:
    """The chunks of a six-token chat answer to "hello", streamed to the openai ``client``."""
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=6, stream=True, **options
    )
    return list(stream)


def stop_replicas(runtime: Runtime) -> None:
    with runtime.session() as session:
        for replica in session.exec(select(Replica)).all():
            runtime.compute.cancel(replica.compute_ref)
