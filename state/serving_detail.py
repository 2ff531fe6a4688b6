"""One model service: status and replicas followed live, the model's versions with a rolling
update to any of them, rollback, scale and stop, a replica's log tail, the gateway figures for
this model and how to call it (base URL, curl and Python snippets with its name filled in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import reflex as rx
from sqlmodel import Session

from backend.errors import MedAIError
from backend.runtime import Runtime
from backend.services.assets import model_registry
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.serving import deployments as serving
from backend.services.serving import gateway
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast
from state.serving import engine_label, version_labels

ROUTE_PREFIX = "/serving/"
LOG_LINES = 200


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def curl_snippet(base_url: str, model: str) -> str:
    return (
        f"curl {base_url}/chat/completions \\\n"
        '  -H "Authorization: Bearer $MEDAI_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f'  -d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "你好"}}], "stream": false}}\''
    )


def python_snippet(base_url: str, model: str) -> str:
    return (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}", api_key="<your API key>")\n'
        "answer = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "高血压患者饮食要注意什么？"}],\n'
        ")\n"
        "print(answer.choices[0].message.content)"
    )


@dataclass
class ServiceView:
    may_deploy: bool = False
    service: dict[str, str] = field(default_factory=dict)
    replicas: list[dict[str, str]] = field(default_factory=list)
    versions: list[dict[str, str]] = field(default_factory=list)
    usage: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""


def service_view(rt: Runtime, session: Session, who: Principal, deployment_id: str) -> ServiceView:
    deployment, replicas = serving.get_deployment(session, who, deployment_id)
    labels = version_labels(session, who)
    current = labels.get(deployment.model_version_id, {})
    previous = labels.get(deployment.previous_model_version_id or "", {})
    view = ServiceView(may_deploy=may(session, who, Area.SERVING, Action.DEPLOY))
    view.service = {
        "id": deployment.id,
        "name": deployment.name,
        "status": deployment.status,
        "reason": deployment.reason,
        "engine": engine_label(deployment.engine, deployment.gpus),
        "version_id": deployment.model_version_id,
        "version": current.get("label", deployment.model_version_id),
        "previous": previous.get("label", ""),
        "replicas": str(deployment.replicas),
        "ready": str(sum(1 for r in replicas if r.status == "ready")),
        "resources": f"{deployment.cpu:g} CPU · {deployment.memory_gb:g} GiB · {deployment.gpus} GPU",
        "max_model_len": str(deployment.max_model_len),
        "requests_per_minute": str(deployment.requests_per_minute or "—"),
        "engine_args": " ".join(deployment.engine_args or []) or "—",
        "created": f"{when(deployment.created_at)} · {deployment.created_by}",
    }
    view.replicas = [
        {
            "ordinal": str(r.ordinal),
            "status": r.status,
            "version": labels.get(r.model_version_id, {}).get("label", r.model_version_id),
            "restarts": str(r.restarts),
            "started": when(r.started_at),
            "ready": when(r.ready_at),
            "step": r.reason,  # while it starts, the last line it logged; else why it left the routes
        }
        for r in replicas
    ]
    if current:
        _, versions = model_registry.get_model(session, who, current["model_id"])
        view.versions = [
            {
                "id": v.id,
                "label": f"v{v.version}",
                "status": v.status,
                "format": v.format,
                "created": when(v.created_at),
                "current": "yes" if v.id == deployment.model_version_id else "",
            }
            for v in versions
        ]
    view.usage = [
        {
            "key": row.api_key_id or "session",
            "requests": str(row.requests),
            "tokens": f"{row.prompt_tokens} + {row.completion_tokens}",
            "errors": str(row.errors),
            "latency": f"{row.mean_latency_ms:.0f} ms",
        }
        for row in gateway.usage(session, who, None, deployment.name)
    ]
    view.base_url = rt.settings.public_url.rstrip("/") + "/v1"
    return view


def replica_log(rt: Runtime, session: Session, who: Principal, deployment_id: str, ordinal: int) -> str:
    """The last lines a replica wrote (what GET /api/deployments/{id}/log returns)."""
    _, replicas = serving.get_deployment(session, who, deployment_id)
    replica = next((r for r in replicas if r.ordinal == ordinal), None)
    if replica is None:
        return ""
    return rt.compute.log_tail(replica.compute_ref, LOG_LINES)


class ServiceState(AuthState):
    may_deploy: bool = False
    service: dict[str, str] = {}
    replicas: list[dict[str, str]] = []
    versions: list[dict[str, str]] = []
    usage: list[dict[str, str]] = []
    base_url: str = ""
    log: str = ""
    log_ordinal: str = "0"
    scale_to: str = "1"
    missing: bool = False
    following: bool = False
    _follow_round: int = 0

    @rx.var
    def curl(self) -> str:
        return curl_snippet(self.base_url, self.service.get("name", ""))

    @rx.var
    def python(self) -> str:
        return python_snippet(self.base_url, self.service.get("name", ""))

    def _route_id(self) -> str:
        path = self.router.url.path.rstrip("/")
        return path[len(ROUTE_PREFIX) :] if path.startswith(ROUTE_PREFIX) else ""

    async def _fetch(self, deployment_id: str) -> tuple[ServiceView, str]:
        ordinal = int(self.log_ordinal or 0)
        view = await self._as_user(lambda rt, session, who: service_view(rt, session, who, deployment_id))
        log = await self._as_user(lambda rt, session, who: replica_log(rt, session, who, deployment_id, ordinal))
        return view, log

    def _apply(self, view: ServiceView, log: str) -> None:
        self.may_deploy, self.service, self.replicas = view.may_deploy, view.service, view.replicas
        self.versions, self.usage, self.base_url, self.log = view.versions, view.usage, view.base_url, log

    async def _refresh(self, deployment_id: str) -> None:
        self._apply(*await self._fetch(deployment_id))

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.service, self.replicas, self.versions, self.usage, self.log, self.missing = {}, [], [], [], "", False
        deployment_id = self._route_id()
        if not self.signed_in or self.must_change_password or not self.tenant_id or not deployment_id:
            self.missing = bool(self.signed_in and not self.must_change_password)
            return
        try:
            await self._refresh(deployment_id)
        except MedAIError as error:
            self.missing = True
            yield error_toast(error)
            return
        self.scale_to = self.service.get("replicas", "1")
        yield ServiceState.follow

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh status, replicas, usage and the log every live.POLL_S seconds while the page is open
        (and the service still exists)."""
        deployment_id = self.service.get("id", "")
        await live.follow(
            self,
            lambda: self._fetch(deployment_id),
            lambda fetched: self._apply(*fetched),
            lambda: self._route_id() == deployment_id,
            flag="following",
            stop_on=(MedAIError,),
        )

    async def _act(self, work, done_key: str):  # noqa: ANN001, ANN202 (a service call for this service)
        deployment_id = self.service.get("id", "")
        await self._as_user(lambda _rt, session, who: work(session, who, deployment_id))
        await self._refresh(deployment_id)
        return await success_toast(self, done_key)

    @rx.event
    async def update_to(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(
            lambda session, who, d: serving.update_version(session, who, d, version_id), "service.updating"
        )
        yield ServiceState.follow

    @rx.event
    async def rollback(self):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(serving.rollback, "service.rolled_back")
        yield ServiceState.follow

    @rx.event
    def set_scale_to(self, value: str) -> None:
        self.scale_to = value

    @rx.event
    async def scale(self):  # noqa: ANN201 (Reflex event generator)
        try:
            replicas = int(self.scale_to.strip())
        except ValueError:
            yield await input_toast(self, "service.scale_invalid")
            return
        yield await self._act(lambda session, who, d: serving.scale(session, who, d, replicas), "service.scaled")
        yield ServiceState.follow

    @rx.event
    async def stop(self):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(serving.stop, "service.stopped")
        self.scale_to = "0"

    @rx.event
    async def show_log(self, ordinal: str):  # noqa: ANN201 (Reflex event generator)
        self.log_ordinal = ordinal
        deployment_id = self.service.get("id", "")
        number = int(ordinal or 0)
        self.log = await self._as_user(lambda rt, session, who: replica_log(rt, session, who, deployment_id, number))
