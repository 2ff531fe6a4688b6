"""The Deploy area: the tenant's model services (status, replicas, version, gateway figures),
the deploy form and the clusters panel; the list refreshes live while services start."""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from sqlmodel import Session

from backend.errors import ErrorCode, MedAIError
from backend.runtime import Runtime
from backend.services.assets import model_registry
from backend.services.identity import platform_assets
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.orchestration import clusters
from backend.services.serving import deployments as serving
from backend.services.serving import gateway, starter_model
from components import charts
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


@dataclass
class Usage:
    requests: int = 0
    tokens: int = 0
    errors: int = 0
    latency_ms: float = 0.0


def usage_by_model(rows: list[gateway.UsageRow]) -> dict[str, Usage]:
    """Gateway figures per model over all keys; latency is the request-weighted mean."""
    found: dict[str, Usage] = {}
    for row in rows:
        total = found.setdefault(row.model, Usage())
        weighted = total.latency_ms * total.requests + row.mean_latency_ms * row.requests
        total.requests += row.requests
        total.tokens += row.prompt_tokens + row.completion_tokens
        total.errors += row.errors
        total.latency_ms = round(weighted / total.requests, 1) if total.requests else 0.0
    return found


def version_labels(session: Session, who: Principal) -> dict[str, dict[str, str]]:
    """Every model version of the tenant: id -> model id, model name, label, format, status."""
    labels: dict[str, dict[str, str]] = {}
    if not may(session, who, Area.ASSETS, Action.VIEW):
        return labels
    for model in model_registry.list_models(session, who):
        _, versions = model_registry.get_model(session, who, model.id)
        for v in versions:
            labels[v.id] = {
                "id": v.id,
                "model_id": model.id,
                "model": model.name,
                "label": f"{model.name} v{v.version}",
                "version": str(v.version),
                "format": v.format,
                "status": v.status,
                "platform": "yes" if model.provided_by_platform else "",
            }
    return labels


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


def platform_service_rows(
    session: Session, who: Principal, labels: dict[str, dict[str, str]]
) -> list[PlatformServiceRow]:
    return [
        PlatformServiceRow(
            id=d.id,
            name=d.name,
            model=labels.get(d.model_version_id, {}).get("label", d.model_version_id),
            status=d.status,
            reason=d.reason,
            replicas=d.replicas,
        )
        for d in platform_assets.list_platform_services(session, who)
    ]


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


def service_rows(session: Session, who: Principal, labels: dict[str, dict[str, str]]) -> list[ServiceRow]:
    figures = usage_by_model(gateway.usage(session, who))
    recent = {t.model: t for t in gateway.traffic(session, who)}
    rows = []
    for deployment in serving.list_deployments(session, who):
        _, replicas = serving.get_deployment(session, who, deployment.id)
        ready = sum(1 for r in replicas if r.status == "ready" and r.model_version_id == deployment.model_version_id)
        use = figures.get(deployment.name, Usage())
        rows.append(
            ServiceRow(
                id=deployment.id,
                name=deployment.name,
                version=labels.get(deployment.model_version_id, {}).get("label", deployment.model_version_id),
                engine=engine_label(deployment.engine, deployment.gpus),
                status=deployment.status,
                reason=deployment.reason,
                replicas=f"{ready}/{deployment.replicas}",
                requests=use.requests,
                tokens=use.tokens,
                errors=use.errors,
                latency=f"{use.latency_ms:.0f} ms" if use.requests else "",
                **_traffic(recent.get(deployment.name)),
            )
        )
    return rows


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


def overview(_rt: Runtime, session: Session, who: Principal) -> Overview:
    found = Overview(
        may_view=may(session, who, Area.SERVING, Action.VIEW),
        may_deploy=may(session, who, Area.SERVING, Action.DEPLOY),
        may_see_clusters=may(session, who, Area.ORCHESTRATION, Action.VIEW),
        may_manage_platform=may(session, who, Area.PLATFORM, Action.UPDATE),
    )
    if not found.may_view:
        return found
    labels = version_labels(session, who)
    found.services = service_rows(session, who, labels)
    found.platform_services = platform_service_rows(session, who, labels)
    found.versions = [
        v for v in labels.values() if v["status"] != "retired" and v["format"] in ("safetensors", "pytorch-bin")
    ]
    ordered = sorted(found.versions, key=lambda v: (v["platform"], v["model"]))  # the tenant's own first
    found.models = [{"id": v["model_id"], "name": v["model"]} for v in ordered]
    found.models = [m for i, m in enumerate(found.models) if m not in found.models[:i]]
    return found


def _rows(_rt: Runtime, session: Session, who: Principal) -> tuple[list[ServiceRow], list[PlatformServiceRow]]:
    """The tenant's services and the platform's, as the live refresh shows them."""
    labels = version_labels(session, who)
    return service_rows(session, who, labels), platform_service_rows(session, who, labels)


def scale_platform_service(deployment_id: str, replicas: int) -> Callable[[Runtime, Session, Principal], str]:
    """The work of starting (1) or stopping (0) a platform service; only platform admins may."""

    def work(_rt: Runtime, session: Session, who: Principal) -> str:
        return starter_model.scale_platform_service(session, who, deployment_id, replicas).name

    return work


def cluster_cards(rt: Runtime, session: Session, who: Principal) -> list[dict[str, str]]:
    cards = []
    for cluster in clusters.list_clusters(session, who, rt.settings):
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


def connection_steps(rt: Runtime, session: Session, who: Principal) -> list[dict[str, str]]:
    return [
        {"name": s.name, "ok": "ok" if s.ok else "failed", "detail": s.detail, "remedy": s.remedy}
        for s in clusters.test_connection(session, who, rt.settings)
    ]


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
        found = await self._as_user(overview)
        self.may_view, self.may_deploy, self.may_see_clusters = found.may_view, found.may_deploy, found.may_see_clusters
        self.may_manage_platform, self.platform_services = found.may_manage_platform, found.platform_services
        self.services, self.models, self.versions = found.services, found.models, found.versions
        if self.model_id not in {m["id"] for m in self.models}:
            self.model_id = self.models[0]["id"] if self.models else ""
        self._pick_latest_version()
        self.clusters = await self._as_user(cluster_cards) if self.may_see_clusters else []
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
            yield await input_toast(self, "deploy.form_incomplete")
            return
        self.deploying = True
        yield
        try:
            spec = deploy_spec(self.version_id, self.form)
            await self._as_user(lambda _rt, session, who: serving.deploy(session, who, spec))
            self._set_services(await self._as_user(_rows))
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.deploying = False
            yield error_toast(error)
            return
        self.deploying, self.form = False, {**self.form, "name": ""}
        yield await success_toast(self, "deploy.deployed")
        yield ServingState.follow

    @rx.event
    async def test_connection(self):  # noqa: ANN201 (Reflex event generator)
        self.testing, self.steps = True, []
        yield
        try:
            self.steps = await self._as_user(connection_steps)
        finally:
            self.testing = False

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh the service list while a service is pending or starting and this page is open."""
        await live.follow(
            self, lambda: self._as_user(_rows), self._set_services, lambda: self.live and live.on_page(self, ROUTE)
        )

    def _set_services(self, rows: tuple[list[ServiceRow], list[PlatformServiceRow]]) -> None:
        self.services, self.platform_services = rows

    @rx.event
    async def scale_platform(self, deployment_id: str, replicas: int):  # noqa: ANN201 (Reflex event generator)
        """A platform admin starts (1 replica) or stops (0) one of the platform's services."""
        self.scaling = deployment_id
        yield
        try:
            await self._as_user(scale_platform_service(deployment_id, replicas))
            self._set_services(await self._as_user(_rows))
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.scaling = ""
            yield error_toast(error)
            return
        self.scaling = ""
        yield await success_toast(self, "deploy.platform_started" if replicas else "deploy.platform_stopped")
        yield ServingState.follow
