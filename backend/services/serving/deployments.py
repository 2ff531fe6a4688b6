"""Model services: deploy a model version on the local engine or vLLM, scale, roll to a new
version and back, stop; and the controller's pass that keeps the replicas running and
healthy (source §4.1 model publishing, §6.2 task failure: restart with the reason kept).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from sqlmodel import Session, or_, select

from backend.adapters.compute import Compute, ServerLaunch, last_step, why_it_stopped
from backend.contracts.serving import CONFIG_ERROR, ServeSpec
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, LineageEdge, ModelVersion, Replica, ResourcePool
from backend.models.base import utcnow
from backend.services.assets import lineage
from backend.services.identity import audit, platform_assets
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area
from backend.services.serving import replica_failures, vllm_options
from backend.services.serving.engine_metrics import engine_fields
from backend.settings import get_settings

logger = logging.getLogger(__name__)

ENGINES = ("local", "vllm")
MAX_RESTARTS = 5
LOG_LINES = 300  # what a replica's log tail shows
UNHEALTHY_AFTER = 3  # health-check misses in a row before a running replica is replaced
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class DeploySpec:
    name: str
    model_version_id: str
    engine: str = "local"
    replicas: int = 1
    gpus: int = 0
    cpu: float = 2.0
    memory_gb: float = 8.0
    max_model_len: int = 2048
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    standby: str = ""  # name of another service of the tenant to fall back to
    requests_per_minute: int = 0
    engine_args: tuple[str, ...] = ()  # vLLM's own tuning flags (vllm_options lists which)


def _audit(session: Session, principal: Principal | None, deployment: Deployment, action: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "deployment", deployment.id, tenant_id=deployment.tenant_id, **detail)


def _version(session: Session, tenant_id: str, version_id: str) -> ModelVersion:
    version = platform_assets.usable_model_version(session, tenant_id, version_id)  # its own, or the platform's
    if version.status == "retired":
        raise MedAIError(ErrorCode.CONFLICT, "This model version is retired.", "Deploy a version in use.")
    if version.parameters.get("type") == "reward":
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "A reward model scores answers; it does not write them, so it cannot be served as a chat model.",
            "Use it in a GRPO or evaluation job, or deploy the model it was trained to judge.",
        )
    if version.format not in ("safetensors", "pytorch-bin"):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"The {version.format} format cannot be served by these engines.",
            "Deploy a transformers model (safetensors or PyTorch weights).",
        )
    return version


def _standby(session: Session, tenant_id: str, name: str, own_name: str) -> str | None:
    if not name:
        return None
    if name == own_name:
        raise MedAIError(ErrorCode.DATA_INVALID, "A service cannot be its own standby.", "Pick another service.")
    found = session.exec(select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.name == name)).first()
    if found is None:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No service '{name}' to fall back to.", "Deploy the standby first.")
    return found.id


def deploy(session: Session, principal: Principal, spec: DeploySpec) -> Deployment:
    tenant_id = authorize(session, principal, Area.SERVING, Action.DEPLOY)
    assert tenant_id is not None
    if not _NAME.match(spec.name):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{spec.name}' is not a valid service name.",
            "Use lowercase letters, digits, '.', '-' or '_' (clients send it as the model name).",
        )
    if spec.engine not in ENGINES or not 1 <= spec.replicas <= 64 or spec.gpus < 0 or spec.tensor_parallel_size < 1:
        raise MedAIError(ErrorCode.DATA_INVALID, "Engine, replicas, GPUs or parallelism are out of range.", "Fix them.")
    if spec.engine == "vllm" and 0 < spec.gpus < spec.tensor_parallel_size:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "vLLM needs a GPU per tensor-parallel rank.",
            "Raise the GPU count, or set it to 0 for vLLM's CPU backend.",
        )
    if not 128 <= spec.max_model_len <= 1_048_576 or not 0.1 <= spec.gpu_memory_utilization <= 0.99:
        raise MedAIError(ErrorCode.DATA_INVALID, "Max model length or GPU memory share is out of range.", "Fix it.")
    if spec.engine_args and spec.engine != "vllm":
        raise MedAIError(
            ErrorCode.DATA_INVALID, "Engine arguments are vLLM's.", "Leave them empty, or choose the vLLM engine."
        )
    engine_args = vllm_options.checked(spec.engine_args)
    if session.exec(select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.name == spec.name)).first():
        raise MedAIError(ErrorCode.CONFLICT, f"A service '{spec.name}' exists.", "Update it, or choose another name.")
    version = _version(session, tenant_id, spec.model_version_id)
    deployment = Deployment(
        tenant_id=tenant_id,
        name=spec.name,
        model_version_id=version.id,
        engine=spec.engine,
        replicas=spec.replicas,
        gpus=spec.gpus,
        cpu=spec.cpu,
        memory_gb=spec.memory_gb,
        max_model_len=spec.max_model_len,
        gpu_memory_utilization=spec.gpu_memory_utilization,
        tensor_parallel_size=spec.tensor_parallel_size,
        engine_args=engine_args,
        standby_deployment_id=_standby(session, tenant_id, spec.standby, spec.name),
        requests_per_minute=spec.requests_per_minute,
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    session.add(deployment)
    session.flush()
    lineage.link(
        session,
        tenant_id,
        lineage.Node("model_version", version.id),
        lineage.Node("deployment", deployment.id),
        "deployed_as",
    )
    _audit(
        session, principal, deployment, "deployment.create", model_version=version.id, engine=spec.engine,
        engine_args=engine_args,
    )  # fmt: skip
    return deployment


def _deployment(session: Session, tenant_id: str | None, deployment_id: str) -> Deployment:
    return in_tenant(session, Deployment, deployment_id, tenant_id, "service", "Reload the service list.")


def list_deployments(session: Session, principal: Principal) -> list[Deployment]:
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW)
    return list(
        session.exec(select(Deployment).where(Deployment.tenant_id == tenant_id).order_by(Deployment.name)).all()
    )


def get_deployment(session: Session, principal: Principal, deployment_id: str) -> tuple[Deployment, list[Replica]]:
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW)
    deployment = _deployment(session, tenant_id, deployment_id)
    replicas = session.exec(
        select(Replica).where(Replica.deployment_id == deployment.id).order_by(Replica.ordinal)
    ).all()
    return deployment, list(replicas)


def replica_log(
    session: Session, principal: Principal, compute: Compute, deployment_id: str, ordinal: int, lines: int = LOG_LINES
) -> str:
    """The last ``lines`` lines replica ``ordinal`` of the service wrote; NOT_FOUND when no such
    replica runs (GET /api/deployments/{id}/log and the service page both show this)."""
    _, replicas = get_deployment(session, principal, deployment_id)
    replica = next((r for r in replicas if r.ordinal == ordinal), None)
    if replica is None:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No replica {ordinal} is running.", "Pick a running replica.")
    return compute.log_tail(replica.compute_ref, lines)


def _mark_version(session: Session, version_id: str | None, status: str) -> None:
    version = session.get(ModelVersion, version_id) if version_id else None
    if version is not None and version.status != "retired":
        version.status = status
        session.add(version)


def update_version(session: Session, principal: Principal, deployment_id: str, version_id: str) -> Deployment:
    """Rolling update: new replicas on the new version start; the old ones stop once they are ready."""
    tenant_id = authorize(session, principal, Area.SERVING, Action.DEPLOY)
    deployment = _deployment(session, tenant_id, deployment_id)
    version = _version(session, deployment.tenant_id, version_id)
    if version.id == deployment.model_version_id:
        raise MedAIError(ErrorCode.CONFLICT, "The service already runs this version.", "Pick another version.")
    deployment.previous_model_version_id, deployment.model_version_id = deployment.model_version_id, version.id
    deployment.status, deployment.reason, deployment.updated_at = "starting", "rolling update", utcnow()
    session.add(deployment)
    lineage.link(
        session,
        deployment.tenant_id,
        lineage.Node("model_version", version.id),
        lineage.Node("deployment", deployment.id),
        "deployed_as",
    )
    _audit(
        session,
        principal,
        deployment,
        "deployment.update",
        to=version.id,
        previous=deployment.previous_model_version_id,
    )
    return deployment


def rollback(session: Session, principal: Principal, deployment_id: str) -> Deployment:
    """Serve the version that ran before the last update again."""
    tenant_id = authorize(session, principal, Area.SERVING, Action.DEPLOY)
    deployment = _deployment(session, tenant_id, deployment_id)
    if not deployment.previous_model_version_id:
        raise MedAIError(ErrorCode.CONFLICT, "This service has no earlier version.", "Deploy another version instead.")
    return update_version(session, principal, deployment_id, deployment.previous_model_version_id)


def scale(session: Session, principal: Principal, deployment_id: str, replicas: int) -> Deployment:
    tenant_id = authorize(session, principal, Area.SERVING, Action.UPDATE)
    deployment = _deployment(session, tenant_id, deployment_id)
    if not 0 <= replicas <= 64:
        raise MedAIError(ErrorCode.DATA_INVALID, "Replicas must be 0-64.", "Pick another number.")
    before, deployment.replicas = deployment.replicas, replicas
    deployment.status = (
        "stopped" if replicas == 0 else ("starting" if deployment.status == "stopped" else deployment.status)
    )
    deployment.updated_at = utcnow()
    session.add(deployment)
    _audit(session, principal, deployment, "deployment.scale", before=before, after=replicas)
    return deployment


def stop(session: Session, principal: Principal, deployment_id: str) -> Deployment:
    return scale(session, principal, deployment_id, 0)


def delete_deployment(session: Session, principal: Principal, deployment_id: str) -> Deployment:
    """Stop the service and remove it once its replicas are gone (the controller's next pass); its
    usage rows and audit trail stay. A service another one falls back to cannot go."""
    tenant_id = authorize(session, principal, Area.SERVING, Action.DELETE)
    deployment = _deployment(session, tenant_id, deployment_id)
    relying = session.exec(select(Deployment.name).where(Deployment.standby_deployment_id == deployment.id)).all()
    if relying:
        raise MedAIError(
            ErrorCode.CONFLICT,
            f"{', '.join(relying)} fall(s) back to {deployment.name}.",
            "Give those services another standby first.",
        )
    deployment.replicas, deployment.status = 0, "deleting"
    deployment.reason, deployment.updated_at = "deleting: its replicas stop, then the service is removed", utcnow()
    session.add(deployment)
    _audit(session, principal, deployment, "deployment.delete")
    return deployment


def _remove(session: Session, deployment: Deployment) -> None:
    for edge in session.exec(
        select(LineageEdge).where(
            or_(
                (LineageEdge.source_type == "deployment") & (LineageEdge.source_id == deployment.id),
                (LineageEdge.target_type == "deployment") & (LineageEdge.target_id == deployment.id),
            )
        )
    ).all():
        session.delete(edge)
    others = select(Deployment).where(
        Deployment.model_version_id == deployment.model_version_id, Deployment.id != deployment.id
    )
    if session.exec(others).first() is None:
        _mark_version(session, deployment.model_version_id, "pending_deploy")
    _audit(session, None, deployment, "deployment.removed", name=deployment.name)
    session.delete(deployment)


# the controller's pass -------------------------------------------------------------------


def _launch(session: Session, deployment: Deployment, ordinal: int) -> ServerLaunch:
    version = session.get(ModelVersion, deployment.model_version_id)
    assert version is not None
    pool = session.exec(select(ResourcePool).where(ResourcePool.name == "local")).first()
    spec = ServeSpec(
        deployment_id=deployment.id,
        replica=ordinal,
        served_name=deployment.name,
        model_prefix=version.storage_prefix,
        model_files=[f["path"] for f in version.files],
        port=0,
        workdir="",
        max_model_len=deployment.max_model_len,
        engine=deployment.engine,
        gpu_memory_utilization=deployment.gpu_memory_utilization,
        tensor_parallel_size=deployment.tensor_parallel_size,
        gpus=deployment.gpus,
        memory_gb=deployment.memory_gb,
        engine_args=list(deployment.engine_args or []),
    )
    return ServerLaunch(
        deployment.id,
        ordinal,
        deployment.engine,
        spec.dumps(),
        deployment.name,
        deployment.gpus,
        deployment.cpu,
        deployment.memory_gb,
        deployment.max_model_len,
        deployment.gpu_memory_utilization,
        deployment.tensor_parallel_size,
        pool.node_selector if pool else {},
        pool.tolerations if pool else [],
    )


def _start_replica(
    session: Session, compute: Compute, deployment: Deployment, ordinal: int, restarts: int = 0
) -> Replica | None:
    try:
        ref, url = compute.start_server(_launch(session, deployment, ordinal))
    except Exception as error:  # the reason is kept on the service
        logger.exception("replica %s of %s could not start", ordinal, deployment.name)
        deployment.status, deployment.reason = "failed", f"could not start a replica: {type(error).__name__}: {error}"
        session.add(deployment)
        return None
    replica = Replica(
        deployment_id=deployment.id,
        model_version_id=deployment.model_version_id,
        ordinal=ordinal,
        compute_ref=ref,
        url=url,
        restarts=restarts,
    )
    session.add(replica)
    return replica


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _check_replicas(session: Session, compute: Compute, client: httpx.Client, deployment: Deployment) -> list[Replica]:
    """Promote started replicas that answer /health, restart ones that died or did not come up in
    time; returns the live ones."""
    live: list[Replica] = []
    window = get_settings().replica_start_timeout_s
    for replica in session.exec(select(Replica).where(Replica.deployment_id == deployment.id)).all():
        state = compute.state(replica.compute_ref)
        if state.phase != "running":
            why = why_it_stopped(compute.log_tail(replica.compute_ref, 200), state.detail or "it exited")[:300]
            session.delete(replica)
            if replica.status == "draining":  # it was on its way out anyway
                continue
            known = replica_failures.diagnose(why)
            why = replica_failures.explained(why, known)
            current = replica.model_version_id == deployment.model_version_id
            # the worker found the settings cannot work, or vLLM said so in a way another start cannot mend
            if current and (state.exit_code == CONFIG_ERROR or (known and known.permanent)):
                _fail(session, deployment, f"replica {replica.ordinal} cannot start: {why}")
            else:
                _replace(session, compute, deployment, replica, why, live)
            continue
        if replica.status == "draining":
            pass  # out of the routes until it has finished (see _retire)
        elif replica.status == "starting":
            if _healthy(client, replica.url):
                replica.status, replica.ready_at, replica.reason = "ready", utcnow(), ""
                session.add(replica)
            elif (utcnow() - replica.started_at).total_seconds() > window:
                compute.cancel(replica.compute_ref)
                session.delete(replica)
                why = f"no answer on /health within {window:g} s (last: {replica.reason or 'nothing logged'})"
                _replace(session, compute, deployment, replica, why[:300], live)
                continue
            elif (step := _progress(compute, replica)) != replica.reason:
                replica.reason = step  # a large model loads for minutes: this is how far it got
                session.add(replica)
        elif not _probe(session, client, replica):
            compute.cancel(replica.compute_ref)  # it runs but no longer answers: replaced on the next pass
            replica.reason = f"stopped after {replica.failed_checks} failed health checks"
            deployment.reason = f"replica {replica.ordinal} {replica.reason}"
            _audit(session, None, deployment, "deployment.replica_unhealthy", ordinal=replica.ordinal)
        live.append(replica)
    return live


def _fail(session: Session, deployment: Deployment, reason: str) -> None:
    """The service stops trying to start replicas, on the record."""
    deployment.status, deployment.reason = "failed", reason
    _audit(session, None, deployment, "deployment.failed", reason=reason)


def _progress(compute: Compute, replica: Replica) -> str:
    """The last line a starting replica logged; what was read before when its log cannot be read now."""
    try:
        return last_step(compute.log_tail(replica.compute_ref, 20))[:300]
    except Exception:  # e.g. a cluster that refuses pods/log: the replica still starts, only less visibly
        logger.warning("could not read the log of replica %s", replica.compute_ref, exc_info=True)
        return replica.reason


def _replace(
    session: Session, compute: Compute, deployment: Deployment, replica: Replica, why: str, live: list[Replica]
) -> None:
    """A replica of the current version that stopped is started again, up to MAX_RESTARTS times;
    then the service fails with the last reason. One of an older version is only removed."""
    if replica.model_version_id != deployment.model_version_id:
        return
    if replica.restarts >= MAX_RESTARTS:
        _fail(session, deployment, f"replica {replica.ordinal} failed {MAX_RESTARTS} times; last: {why}")
        return
    replacement = _start_replica(session, compute, deployment, replica.ordinal, replica.restarts + 1)
    if replacement is not None:
        live.append(replacement)  # counted as live, so the same ordinal is not started twice
    deployment.reason = f"replica {replica.ordinal} restarted after: {why}"
    _audit(session, None, deployment, "deployment.replica_restarted", ordinal=replica.ordinal, why=why)


def _probe(session: Session, client: httpx.Client, replica: Replica) -> bool:
    """A ready replica is probed every pass: one miss takes it out of the gateway's routes, an answer
    brings it back, UNHEALTHY_AFTER misses in a row mean it is stuck. False when it is to be stopped."""
    healthy = _healthy(client, replica.url)
    if healthy and replica.status == "ready":
        return True
    replica.failed_checks = 0 if healthy else replica.failed_checks + 1
    replica.status = "ready" if healthy else "unhealthy"
    session.add(replica)
    return replica.failed_checks < UNHEALTHY_AFTER


def _converge(
    session: Session, compute: Compute, client: httpx.Client, deployment: Deployment, live: list[Replica]
) -> None:
    draining = [r for r in live if r.status == "draining"]
    live = [r for r in live if r.status != "draining"]
    current = [r for r in live if r.model_version_id == deployment.model_version_id]
    old = [r for r in live if r.model_version_id != deployment.model_version_id]
    wanted = deployment.replicas if deployment.status not in ("stopped", "deleting") else 0
    if deployment.status != "failed":
        free = [o for o in range(wanted + len(current)) if o not in {r.ordinal for r in current}]
        for ordinal in free[: max(0, wanted - len(current))]:
            _start_replica(session, compute, deployment, ordinal)
    extra = sorted(current, key=lambda r: -r.ordinal)[: max(0, len(current) - wanted)]
    ready_current = [r for r in current if r.status == "ready" and r not in extra]
    retire_old = old if (len(ready_current) >= wanted or wanted == 0) else []
    _retire(session, compute, client, deployment, [*extra, *retire_old], draining)
    if retire_old and deployment.previous_model_version_id:
        _mark_version(session, deployment.previous_model_version_id, "pending_deploy")
    if deployment.status == "deleting":
        session.flush()  # the replicas stopped above are gone; nothing refers to the service any more
        _remove(session, deployment)
        return
    if deployment.status == "failed":
        return
    if wanted == 0:
        deployment.status, deployment.reason = "stopped", "stopped: no replicas wanted"
    elif ready_current:
        if deployment.status != "ready":
            _audit(session, None, deployment, "deployment.ready", replicas=len(ready_current))
            _mark_version(session, deployment.model_version_id, "deployed")
        deployment.status = "ready"
        if len(ready_current) >= wanted and not old:
            deployment.reason = f"{len(ready_current)}/{wanted} replicas ready"
    else:
        deployment.status = "starting"
        step = next((r.reason for r in current if r.status == "starting" and r.reason), "")
        if step and not deployment.reason.startswith("replica "):  # a restart's reason stays in view
            deployment.reason = f"starting: {step}"
    session.add(deployment)


def _retire(
    session: Session,
    compute: Compute,
    client: httpx.Client,
    deployment: Deployment,
    leaving: list[Replica],
    draining: list[Replica],
) -> None:
    """Replicas no longer wanted (scaled down, or of the previous version) first leave the
    gateway's routes and finish what they were given, as Kubernetes does with a terminating pod:
    stopped once their engine reports nothing running or waiting, or after the gateway's timeout.
    A service stopped or deleted stops its replicas at once."""
    now, grace = utcnow(), get_settings().gateway_timeout_s
    for replica in leaving:
        replica.status, replica.draining_since = "draining", now
        session.add(replica)
    for replica in [*leaving, *draining] if deployment.status in ("stopped", "deleting") else draining:
        waited = (now - (replica.draining_since or now)).total_seconds()
        # the gateway keeps routes for a second: what it sent meanwhile has started by the next pass
        if deployment.status in ("stopped", "deleting") or waited > grace or (waited >= 2 and _idle(client, replica)):
            compute.cancel(replica.compute_ref)
            session.delete(replica)


def _idle(client: httpx.Client, replica: Replica) -> bool:
    """Nothing running or waiting on the replica's engine (vLLM's metrics); one that cannot say is idle."""
    try:
        fields = engine_fields(client.get(f"{replica.url}/metrics", timeout=1.0).text)
    except (httpx.HTTPError, ValueError):
        return True
    return fields.get("requests_running", 0) + fields.get("requests_waiting", 0) == 0


def reconcile(session: Session, compute: Compute) -> None:
    """One controller pass over model services."""
    with httpx.Client() as client:
        for deployment in session.exec(select(Deployment)).all():
            live = _check_replicas(session, compute, client, deployment)
            session.flush()
            _converge(session, compute, client, deployment, live)
