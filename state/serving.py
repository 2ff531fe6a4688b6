"""The Deploy area: the tenant's model services (status, replicas, version, gateway figures),
the deploy form and the clusters panel; the list refreshes live while services start."""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.orchestration import clusters
from backend.services.serving import deployments as serving
from backend.services.serving import gateway, starter_model, views
from state import figures as charts
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast

ROUTE = "/serving"
MOVING = ("pending", "starting")  # a service in these states is followed live
FORM_DEFAULTS = {
    "name": "",
    "engine": "local",
    "replicas": "1",
    "cpu": "2",
    "memory_gb": "8",
    "gpus": "0",
    "max_model_len": "2048",
    "gpu_memory_utilization": "0.9",
    "tensor_parallel_size": "1",
    "standby": "",
    "requests_per_minute": "0",
    "engine_args": "",
}
_INTEGERS = ("replicas", "gpus", "max_model_len", "tensor_parallel_size", "requests_per_minute")
_FLOATS = ("cpu", "memory_gb", "gpu_memory_utilization")
NO_STANDBY = "-"  # a select item cannot have an empty value


def _number(key: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"{key} must be a number, not '{text}'.", f"Type a number for {key}."
        ) from None


def _words(text: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError as error:  # an unclosed quote
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"The engine arguments cannot be read: {error}.", "Close the quote."
        ) from None


def deploy_spec(version_id: str, form: dict[str, str]) -> serving.DeploySpec:
    """The form's text as the spec the serving service checks."""
    numbers = {key: _number(key, form.get(key, FORM_DEFAULTS[key])) for key in (*_INTEGERS, *_FLOATS)}
    standby = form.get("standby", "").strip()
    return serving.DeploySpec(
        name=form.get("name", "").strip(),
        model_version_id=version_id,
        engine=form.get("engine", "local"),
        standby="" if standby == NO_STANDBY else standby,
        engine_args=_words(form.get("engine_args", "")),
        **{key: int(numbers[key]) for key in _INTEGERS},
        **{key: numbers[key] for key in _FLOATS},
    )


def version_choice(found: views.VersionLabel) -> dict[str, str]:
    """A model version as the deploy form offers it."""
    return {
        "id": found.id,
        "model_id": found.model_id,
        "model": found.model,
        "label": found.label,
        "version": str(found.version),
        "format": found.format,
        "status": found.status,
        "platform": "yes" if found.provided_by_platform else "",
    }


def _label(labels: dict[str, views.VersionLabel], version_id: str) -> str:
    found = labels.get(version_id)
    return found.label if found is not None else version_id


@dataclass
class ServiceRow:
    id: str = ""
    name: str = ""
    version: str = ""
    engine: str = ""
    status: str = ""
    reason: str = ""
    replicas: str = ""  # ready/wanted
    requests: int = 0
    tokens: int = 0
    errors: int = 0
    latency: str = ""
    recent: str = ""  # the last 30 minutes: requests and median latency
    minutes: list[str] = field(default_factory=list)  # … per minute, for the traffic chart
    minute_requests: list[int] = field(default_factory=list)
    minute_p50_ms: list[float] = field(default_factory=list)


@dataclass
class PlatformServiceRow:
    """A service the platform runs for every tenant (the starter model), as the Deploy page lists it."""

    id: str = ""
    name: str = ""
    model: str = ""
    status: str = ""
    reason: str = ""
    replicas: int = 0


def shows_starter_hint(services: list[ServiceRow], platform: list[PlatformServiceRow]) -> bool:
    """No service of the tenant's own yet, but a platform service runs that it may call: say so."""
    return not services and any(p.status != "stopped" for p in platform)


@dataclass
class Overview:
    may_view: bool = False
    may_deploy: bool = False
    may_see_clusters: bool = False
    may_manage_platform: bool = False  # a platform admin: starts and stops the platform's services
    services: list[ServiceRow] = field(default_factory=list)
    platform_services: list[PlatformServiceRow] = field(default_factory=list)
    models: list[dict[str, str]] = field(default_factory=list)  # {id, name}
    versions: list[dict[str, str]] = field(default_factory=list)  # deployable versions


def engine_label(engine: str, gpus: int) -> str:
    """What serves the model, as the lists show it: vLLM on GPUs, vLLM's CPU build, or the local engine."""
    if engine != "vllm":
        return engine
    return f"vLLM · {gpus} GPU" if gpus else "vLLM · CPU"


def service_row(found: views.ServiceSummary, labels: dict[str, views.VersionLabel]) -> ServiceRow:
    service, use = found.service, found.usage
    return ServiceRow(
        id=service.id,
        name=service.name,
        version=_label(labels, service.model_version_id),
        engine=engine_label(service.engine, service.gpus),
        status=service.status,
        reason=service.reason,
        replicas=f"{found.ready}/{service.replicas}",
        requests=use.requests,
        tokens=use.tokens,
        errors=use.errors,
        latency=f"{use.latency_ms:.0f} ms" if use.requests else "",
        **_traffic(found.traffic),
    )


def platform_service_row(found: views.Service, labels: dict[str, views.VersionLabel]) -> PlatformServiceRow:
    return PlatformServiceRow(
        id=found.id,
        name=found.name,
        model=_label(labels, found.model_version_id),
        status=found.status,
        reason=found.reason,
        replicas=found.replicas,
    )


def service_lists(found: views.ServiceList) -> tuple[list[ServiceRow], list[PlatformServiceRow]]:
    """The tenant's services and the platform's, as the page lists them."""
    return (
        [service_row(s, found.labels) for s in found.services],
        [platform_service_row(p, found.labels) for p in found.platform_services],
    )


def _traffic(found: gateway.Traffic | None) -> dict[str, Any]:
    if found is None or not any(found.requests):
        return {}
    busy = [v for v, n in zip(found.latency_p50_ms, found.requests, strict=True) for _ in range(n)]
    return {
        "recent": f"{sum(found.requests)} · p50 {statistics.median(busy):.0f} ms",
        "minutes": [m.strftime("%H:%M") for m in found.minutes],
        "minute_requests": found.requests,
        "minute_p50_ms": found.latency_p50_ms,
    }


def shown_overview(found: views.Overview) -> Overview:
    """The Deploy page's vars from what the overview read."""
    services, platform = service_lists(found.services)
    versions = [version_choice(v) for v in found.deployable]
    ordered = sorted(versions, key=lambda v: (v["platform"], v["model"]))  # the tenant's own first
    models = [{"id": v["model_id"], "name": v["model"]} for v in ordered]
    return Overview(
        may_view=found.may_view,
        may_deploy=found.may_deploy,
        may_see_clusters=found.may_see_clusters,
        may_manage_platform=found.may_manage_platform,
        services=services,
        platform_services=platform,
        models=[m for i, m in enumerate(models) if m not in models[:i]],
        versions=versions,
    )


def scale_platform_service(deployment_id: str, replicas: int) -> Callable[..., str]:
    """The work of starting (1) or stopping (0) a platform service; only platform admins may."""
    return lambda _rt, session, principal: (
        starter_model.scale_platform_service(session, principal, deployment_id, replicas).name
    )


def cluster_cards(found: list[clusters.ClusterInfo]) -> list[dict[str, str]]:
    cards = []
    for cluster in found:
        for node in cluster.nodes or [None]:
            cards.append(
                {
                    "cluster": cluster.name,
                    "kind": cluster.kind,
                    "reachable": "yes" if cluster.reachable else "no",
                    "detail": cluster.detail,
                    "node": node.name if node else "",
                    "cpu": f"{node.cpu:g}" if node else "",
                    "memory": f"{node.memory_gb:g}" if node else "",
                    "gpus": str(node.gpus) if node else "",
                    "gpu_type": node.gpu_type if node else "",
                    "node_detail": node.detail if node else "",
                }
            )
    return cards


def connection_steps(found: list[clusters.Step]) -> list[dict[str, str]]:
    return [{"name": s.name, "ok": "ok" if s.ok else "failed", "detail": s.detail, "remedy": s.remedy} for s in found]


class ServingState(AuthState):
    may_view: bool = True
    may_deploy: bool = False
    may_see_clusters: bool = False
    may_manage_platform: bool = False
    services: list[ServiceRow] = []
    platform_services: list[PlatformServiceRow] = []
    scaling: str = ""  # the platform service being started or stopped
    models: list[dict[str, str]] = []
    versions: list[dict[str, str]] = []
    model_id: str = ""
    version_id: str = ""
    form: dict[str, str] = dict(FORM_DEFAULTS)
    deploying: bool = False
    clusters: list[dict[str, str]] = []
    steps: list[dict[str, str]] = []
    testing: bool = False
    _follow_round: int = 0

    @rx.var
    def traffic_chart(self) -> dict[str, Any]:
        return charts.traffic_figure([(s.name, s.minutes, s.minute_requests, s.minute_p50_ms) for s in self.services])

    @rx.var
    def has_traffic(self) -> bool:
        return any(s.recent for s in self.services)

    @rx.var
    def model_versions(self) -> list[dict[str, str]]:
        return sorted(
            (v for v in self.versions if v["model_id"] == self.model_id), key=lambda v: -int(v["version"] or 0)
        )

    @rx.var
    def standby_choices(self) -> list[str]:
        return [NO_STANDBY, *(s.name for s in self.services)]

    @rx.var
    def live(self) -> bool:
        return any(s.status in MOVING for s in (*self.services, *self.platform_services))

    @rx.var
    def starter_hint(self) -> bool:
        return shows_starter_hint(self.services, self.platform_services)

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.steps = []
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.services, self.versions, self.models, self.clusters = [], [], [], []
            self.platform_services = []
            return
        found = shown_overview(await self._as_user(lambda _rt, session, principal: views.overview(session, principal)))
        self.may_view, self.may_deploy, self.may_see_clusters = found.may_view, found.may_deploy, found.may_see_clusters
        self.may_manage_platform, self.platform_services = found.may_manage_platform, found.platform_services
        self.services, self.models, self.versions = found.services, found.models, found.versions
        if self.model_id not in {m["id"] for m in self.models}:
            self.model_id = self.models[0]["id"] if self.models else ""
        self._pick_latest_version()
        self.clusters = []
        if self.may_see_clusters:
            listed = await self._as_user(
                lambda rt, session, principal: clusters.list_clusters(session, principal, rt.settings)
            )
            self.clusters = cluster_cards(listed)
        yield ServingState.follow

    def _pick_latest_version(self) -> None:
        choices = self.model_versions
        if self.version_id not in {v["id"] for v in choices}:
            self.version_id = choices[0]["id"] if choices else ""

    @rx.event
    def set_model(self, model_id: str) -> None:
        self.model_id = model_id
        self._pick_latest_version()

    @rx.event
    def set_version(self, version_id: str) -> None:
        self.version_id = version_id

    @rx.event
    def set_field(self, key: str, value: str) -> None:
        if key in FORM_DEFAULTS:
            self.form = {**self.form, key: value}

    @rx.event
    async def deploy(self):  # noqa: ANN201 (Reflex event generator)
        if not self.form.get("name", "").strip() or not self.version_id:
            yield await input_toast(self, "serving.form_incomplete")
            return
        self.deploying = True
        yield
        try:
            spec = deploy_spec(self.version_id, self.form)
            await self._as_user(lambda _rt, session, principal: serving.deploy(session, principal, spec))
            self._set_services(await self._rows())
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.deploying = False
            yield error_toast(error)
            return
        self.deploying, self.form = False, {**self.form, "name": ""}
        yield await success_toast(self, "serving.deployed")
        yield ServingState.follow

    @rx.event
    async def test_connection(self):  # noqa: ANN201 (Reflex event generator)
        self.testing, self.steps = True, []
        yield
        try:
            self.steps = connection_steps(
                await self._as_user(
                    lambda rt, session, principal: clusters.test_connection(session, principal, rt.settings)
                )
            )
        finally:
            self.testing = False

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh the service list while a service is pending or starting and this page is open."""
        await live.follow(self, self._rows, self._set_services, lambda: self.live and live.on_page(self, ROUTE))

    async def _rows(self) -> tuple[list[ServiceRow], list[PlatformServiceRow]]:
        found = await self._as_user(lambda _rt, session, principal: views.service_list(session, principal))
        return service_lists(found)

    def _set_services(self, rows: tuple[list[ServiceRow], list[PlatformServiceRow]]) -> None:
        self.services, self.platform_services = rows

    @rx.event
    async def scale_platform(self, deployment_id: str, replicas: int):  # noqa: ANN201 (Reflex event generator)
        """A platform admin starts (1 replica) or stops (0) one of the platform's services."""
        self.scaling = deployment_id
        yield
        try:
            await self._as_user(scale_platform_service(deployment_id, replicas))
            self._set_services(await self._rows())
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.scaling = ""
            yield error_toast(error)
            return
        self.scaling = ""
        yield await success_toast(self, "serving.platform_started" if replicas else "serving.platform_stopped")
        yield ServingState.follow
