"""One model service: status and replicas followed live, the model's versions with a rolling
update to any of them, rollback, scale and stop, a replica's log tail, the gateway figures for
this model and how to call it (base URL, curl and Python snippets with its name filled in)."""

from __future__ import annotations

from dataclasses import dataclass, field

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.serving import deployments as serving
from backend.services.serving import views
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast
from state.format import when
from state.serving import engine_label

ROUTE_PREFIX = "/serving/"


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


def service_view(found: views.ServiceDetail) -> ServiceView:
    """The service page's vars from what the detail read."""
    service, labels = found.service, found.labels
    current, previous = labels.get(service.model_version_id), labels.get(service.previous_model_version_id)
    view = ServiceView(may_deploy=found.may_deploy, base_url=found.base_url)
    view.service = {
        "id": service.id,
        "name": service.name,
        "status": service.status,
        "reason": service.reason,
        "engine": engine_label(service.engine, service.gpus),
        "version_id": service.model_version_id,
        "version": current.label if current else service.model_version_id,
        "previous": previous.label if previous else "",
        "replicas": str(service.replicas),
        "ready": str(sum(1 for r in found.replicas if r.status == "ready")),
        "resources": f"{service.cpu:g} CPU · {service.memory_gb:g} GiB · {service.gpus} GPU",
        "max_model_len": str(service.max_model_len),
        "requests_per_minute": str(service.requests_per_minute or "—"),
        "engine_args": " ".join(service.engine_args) or "—",
        "created": f"{when(service.created_at)} · {service.created_by}",
    }
    view.replicas = [
        {
            "ordinal": str(r.ordinal),
            "status": r.status,
            "version": labels[r.model_version_id].label if r.model_version_id in labels else r.model_version_id,
            "restarts": str(r.restarts),
            "started": when(r.started_at),
            "ready": when(r.ready_at),
            "step": r.reason,  # while it starts, the last line it logged; else why it left the routes
        }
        for r in found.replicas
    ]
    view.versions = [
        {
            "id": v.id,
            "label": f"v{v.version}",
            "status": v.status,
            "format": v.format,
            "created": when(v.created_at),
            "current": "yes" if v.id == service.model_version_id else "",
        }
        for v in found.versions
    ]
    view.usage = [
        {
            "key": row.api_key_id or "session",
            "requests": str(row.requests),
            "tokens": f"{row.prompt_tokens} + {row.completion_tokens}",
            "errors": str(row.errors),
            "latency": f"{row.mean_latency_ms:.0f} ms",
        }
        for row in found.usage
    ]
    return view


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
        found = await self._as_user(
            lambda rt, session, principal: views.service_detail(
                session, principal, deployment_id, rt.settings.public_url
            )
        )
        return service_view(found), await self._log(deployment_id, int(self.log_ordinal or 0))

    async def _log(self, deployment_id: str, ordinal: int) -> str:
        """The replica's log tail; empty while no such replica runs."""
        try:
            return await self._as_user(
                lambda rt, session, principal: serving.replica_log(
                    session, principal, rt.compute, deployment_id, ordinal
                )
            )
        except MedAIError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return ""
            raise

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
        await self._as_user(lambda _rt, session, principal: work(session, principal, deployment_id))
        await self._refresh(deployment_id)
        return await success_toast(self, done_key)

    @rx.event
    async def update_to(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(
            lambda session, principal, d: serving.update_version(session, principal, d, version_id), "service.updating"
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
        yield await self._act(
            lambda session, principal, d: serving.scale(session, principal, d, replicas), "service.scaled"
        )
        yield ServiceState.follow

    @rx.event
    async def stop(self):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(serving.stop, "service.stopped")
        self.scale_to = "0"

    @rx.event
    async def show_log(self, ordinal: str):  # noqa: ANN201 (Reflex event generator)
        self.log_ordinal = ordinal
        deployment_id = self.service.get("id", "")
        self.log = await self._log(deployment_id, int(ordinal or 0))
