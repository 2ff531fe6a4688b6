"""Compute backends: the local one for real (start, state, cancel of the whole process
group, re-attach by pid after a restart), Kubernetes Job manifests against the official
schema (no kube-apiserver runs here)."""

import json
import time
from pathlib import Path

import kubernetes_validate
import pytest

from backend.adapters.compute import Launch, ServerLaunch, why_it_stopped
from backend.adapters.compute.kubernetes import job_manifest, server_manifests
from backend.adapters.compute.local import LocalCompute, _alive
from backend.contracts.serving import ServeSpec
from backend.errors import ErrorCode, MedAIError
from backend.workers.serve import vllm_command
from tests.e2e.conftest import group_members


def _launch(spec: str = "{}", gpus: int = 0, kueue: str = "", job: str = "job1") -> Launch:
    return Launch(job, 1, spec, gpus, 2.0, 4.0, {"pool": "a100"}, [{"key": "gpu", "operator": "Exists"}], kueue, "A100")


@pytest.mark.parametrize(("gpus", "kueue"), [(0, ""), (1, ""), (4, "cardio-queue")])
def test_job_manifests_are_valid_batch_v1_jobs(gpus, kueue):
    manifest = job_manifest(
        _launch(json.dumps({"job_id": "job1"}), gpus, kueue), "medai", "registry.local/medai/train:1"
    )
    kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"].get("nvidia.com/gpu") == (str(gpus) if gpus else None)
    assert ("torchrun" in container["command"]) == (gpus > 1)
    assert manifest["spec"]["suspend"] is bool(kueue)
    assert manifest["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == (kueue or None)
    assert manifest["spec"]["backoffLimit"] == 0
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["MEDAI_TRAIN_SPEC"]) == {"job_id": "job1"}


def test_an_invalid_manifest_is_caught_by_the_schema():
    manifest = job_manifest(_launch(), "medai", "img")
    manifest["spec"]["template"]["spec"]["restartPolicy"] = 7
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.37.0", strict=True)


def _stand_in_worker(root: Path, source: str) -> None:
    """backend/workers/train.py under ``root``: what the local compute backend runs for a job."""
    worker = root / "backend" / "workers"
    worker.mkdir(parents=True)
    (root / "backend" / "__init__.py").write_text("")
    (worker / "__init__.py").write_text("")
    (worker / "train.py").write_text(source)


def test_local_process_runs_is_reattached_and_cancelled_with_its_children(tmp_path, monkeypatch):
    compute = LocalCompute(tmp_path / "runs", tmp_path)
    # a stand-in worker: a shell that starts a child and waits (the real worker is tested in integration)
    _stand_in_worker(
        tmp_path,
        "import subprocess, sys, time\nprint('started', flush=True)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\ntime.sleep(60)\n",
    )
    ref = compute.start(_launch())
    pid = int(ref.split(":")[0])
    deadline = time.monotonic() + 20
    while len(group_members(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert compute.state(ref).phase == "running" and len(group_members(pid)) == 2
    restarted = LocalCompute(tmp_path / "runs", tmp_path)  # the platform came back: no child handle
    assert restarted.state(ref).phase == "running"
    assert "started" in restarted.log_tail(ref)
    compute.cancel(ref)
    assert group_members(pid) == [] and not _alive(pid, ref.split(":")[1])
    assert compute.state(ref).phase == "exited"


def test_a_finished_process_reports_its_exit_code(tmp_path):
    compute = LocalCompute(tmp_path / "runs", tmp_path)
    _stand_in_worker(tmp_path, "import sys; sys.exit(3)\n")
    ref = compute.start(_launch())
    deadline = time.monotonic() + 20
    while (state := compute.state(ref)).phase == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (state.phase, state.exit_code) == ("exited", 3)
    assert compute.state(ref).exit_code == 3  # asked again, still known


def _seen_devices(compute: LocalCompute, ref: str) -> str:
    deadline = time.monotonic() + 20
    while "devices=" not in compute.log_tail(ref) and time.monotonic() < deadline:
        time.sleep(0.05)
    return compute.log_tail(ref).split("devices=", 1)[1].strip()


def test_local_processes_get_gpus_of_their_own_and_cpu_ones_see_none(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")  # the GPUs the platform was given
    compute = LocalCompute(tmp_path / "runs", tmp_path)
    shows_its_gpus = "import os, time\nprint('devices=' + os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n"
    _stand_in_worker(tmp_path, shows_its_gpus + "time.sleep(60)\n")
    two = compute.start(_launch(gpus=2, job="two"))
    cpu = compute.start(_launch(gpus=0, job="cpu"))
    assert _seen_devices(compute, two) == "2,5" and _seen_devices(compute, cpu) == ""
    with pytest.raises(MedAIError) as refused:
        compute.start(_launch(gpus=2, job="too-many"))  # one is left
    assert refused.value.code == ErrorCode.RESOURCE_INSUFFICIENT and "1 free of 3" in refused.value.message
    one = compute.start(_launch(gpus=1, job="one"))
    assert _seen_devices(compute, one) == "7"
    compute.cancel(two)  # its GPUs are free again
    again = compute.start(_launch(gpus=2, job="again"))
    assert _seen_devices(compute, again) == "2,5"
    for ref in (cpu, one, again):
        compute.cancel(ref)


@pytest.mark.parametrize("gpus", [0, 2])
def test_model_service_manifests_are_valid_and_probe_health(gpus):
    launch = ServerLaunch(
        "dep1",
        0,
        "vllm",
        ServeSpec(
            "dep1",
            0,
            "qwen-med",
            "t/m/",
            ["a"],
            0,
            "",
            tensor_parallel_size=2 if gpus else 1,
            gpus=gpus,
            memory_gb=32,
            engine_args=["--max-num-seqs", "32"],
        ).dumps(),
        "qwen-med",
        gpus,
        4.0,
        32.0,
        4096,
        0.85,
        2 if gpus else 1,
        {"pool": "a100"},
        [],
    )
    deployment, service = server_manifests(launch, "medai", "vllm/vllm-openai:v0.12.0", "registry.local/medai:1", 900)
    for manifest in (deployment, service):
        kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    vllm = deployment["spec"]["template"]["spec"]["containers"][0]
    probes = [vllm[f"{kind}Probe"] for kind in ("startup", "readiness", "liveness")]
    assert all(p["httpGet"] == {"path": "/health", "port": 8000} for p in probes)
    # a large model may load for many minutes: the startup probe allows the platform's window and a
    # minute more, and the liveness probe, which restarts the container, waits for it
    startup, _, liveness = probes
    assert startup["periodSeconds"] * startup["failureThreshold"] == 900 + 60
    assert "initialDelaySeconds" not in liveness and liveness["failureThreshold"] * liveness["periodSeconds"] == 30
    args = vllm["args"]
    assert args[0] == "/models/model" and args[args.index("--port") + 1] == "8000"
    assert args[args.index("--host") + 1] == "0.0.0.0" and args[args.index("--served-model-name") + 1] == "qwen-med"
    assert ("--gpu-memory-utilization" in args) == bool(gpus) and ("--kv-cache-memory-bytes" in args) == (not gpus)
    assert vllm["args"][vllm["args"].index("--tensor-parallel-size") + 1] == ("2" if gpus else "1")
    assert args[-2:] == ["--max-num-seqs", "32"]  # the service's own vLLM arguments
    assert vllm["resources"]["limits"].get("nvidia.com/gpu") == (str(gpus) if gpus else None)
    init = deployment["spec"]["template"]["spec"]["initContainers"][0]
    assert "--fetch-only" in init["command"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_a_model_service_log_on_kubernetes_is_its_vllm_container_or_else_its_model_fetch(settings):
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from unittest.mock import MagicMock

    from kubernetes.client.exceptions import ApiException

    from backend.adapters.compute.kubernetes import KubernetesCompute

    compute, core = KubernetesCompute(settings), MagicMock()
    compute._clients = (MagicMock(), core)
    pods = [
        SimpleNamespace(metadata=SimpleNamespace(name=name, creation_timestamp=datetime(2026, 11, 26, h, tzinfo=UTC)))
        for name, h in (("svc-old", 9), ("svc-new", 10))
    ]
    core.list_namespaced_pod.return_value = SimpleNamespace(items=pods)
    logs = {"fetch-model": "fetching model.safetensors\n"}

    def read(pod, namespace, container, **options):
        assert pod == "svc-new"  # the newest pod (the Deployment's last rollout)
        if container not in logs:
            raise ApiException(status=400, reason="container is waiting to start: PodInitializing")
        return logs[container]

    core.read_namespaced_pod_log.side_effect = read
    ref = "deployment/medai-svc-abc-0"
    assert compute.log_tail(ref) == "fetching model.safetensors\n"
    assert compute.read_log(ref, 0) == ("", 0)  # the shipped log is vLLM's alone, read at offsets
    logs["vllm"] = "INFO Loading weights took 3.2 seconds\n"
    assert compute.log_tail(ref, 20) == compute.read_log(ref, 0)[0] == logs["vllm"]
    assert core.list_namespaced_pod.call_args.kwargs["label_selector"] == "app.kubernetes.io/name=medai-svc-abc-0"
    assert core.read_namespaced_pod_log.call_args.kwargs == {"container": "vllm"}
    core.read_namespaced_pod_log.side_effect = ApiException(status=403)
    with pytest.raises(ApiException):  # not a container that has yet to start: the caller hears of it
        compute.log_tail(ref)


def test_vllm_command_carries_the_deployment_settings():
    spec = ServeSpec("d", 0, "med", "p/", [], 8001, "/w", max_model_len=4096, engine="vllm", tensor_parallel_size=2)
    spec.gpus = 2
    command = vllm_command(spec, Path("/w/model"), "/opt/vllm/bin/vllm")
    assert command[:3] == ["/opt/vllm/bin/vllm", "serve", "/w/model"]
    assert (
        command[command.index("--port") + 1] == "8001" and command[command.index("--tensor-parallel-size") + 1] == "2"
    )
    assert command[command.index("--gpu-memory-utilization") + 1] == "0.9" and "--kv-cache-memory-bytes" not in command
    spec.engine_args = ["--enforce-eager", "--max-num-seqs", "64"]
    assert vllm_command(spec, Path("/w/model"))[-3:] == ["--enforce-eager", "--max-num-seqs", "64"]


def test_vllm_without_gpus_sizes_its_kv_cache_from_the_replica_memory():
    """vLLM's CPU backend reads the memory share as a share of the whole host's memory, and
    refuses to start when that much is not free: the platform gives it bytes instead."""
    spec = ServeSpec("d", 0, "med", "p/", [], 8001, "/w", engine="vllm", gpu_memory_utilization=0.5, memory_gb=4)
    command = vllm_command(spec, Path("/w/model"))
    assert command[command.index("--kv-cache-memory-bytes") + 1] == str(2 * 2**30)
    assert "--gpu-memory-utilization" not in command


def test_the_reason_a_process_stopped_is_its_telling_error_line():
    vllm = """(APIServer pid=1) INFO 11-26 [model.py:733] Resolved architecture: LlamaForCausalLM
Traceback (most recent call last):
  File "/v/bin/vllm", line 8, in <module>
pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig
  Value error, User-specified max_model_len (2048) is greater than the derived max_model_len (256).
    For further information visit https://errors.pydantic.dev/2.14/v/value_error
"""
    assert why_it_stopped(vllm, "").startswith("Value error, User-specified max_model_len (2048)")
    engine = "ValueError: head size 8 is not supported\nRuntimeError: Engine core failed. See root cause above.\n"
    assert why_it_stopped(engine, "") == "ValueError: head size 8 is not supported"
    assert why_it_stopped("loading\nKilled\n", "") == "Killed"
    ours = "2026-11-26 01:30:00,123 ERROR medai.serve: vLLM is not installed on this host\n"
    assert why_it_stopped(ours, "") == "vLLM is not installed on this host"
    assert why_it_stopped("", "exit code 137") == "exit code 137"


def test_a_vllm_engine_core_failure_is_told_by_its_root_cause_not_the_api_servers_traceback():
    tail = """(EngineCore_DP0 pid=9) ERROR 11-26 10:30:01 [core.py:1100] EngineCore failed to start.
(EngineCore_DP0 pid=9) Traceback (most recent call last):
(EngineCore_DP0 pid=9)   File "/site/vllm/v1/engine/core.py", line 1090, in run_engine_core
(EngineCore_DP0 pid=9)     engine_core = EngineCoreProc(*args, **kwargs)
(EngineCore_DP0 pid=9)                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
(EngineCore_DP0 pid=9)   File "uvloop/loop.pyx", line 1515, in uvloop.loop.Loop.run_until_complete
(EngineCore_DP0 pid=9) torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB
(APIServer pid=8) Traceback (most recent call last):
(APIServer pid=8)   File "/site/vllm/v1/engine/utils.py", line 1272, in wait_for_engine_startup
(APIServer pid=8)     raise RuntimeError(
(APIServer pid=8) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""
    assert why_it_stopped(tail, "") == "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB"
