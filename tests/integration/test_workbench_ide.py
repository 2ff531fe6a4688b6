"""A workbench's JupyterLab for real, through the controller's pass and the local compute backend:
it answers /api/status with its token and refuses without; Git clone, commit and push work through
jupyterlab-git; a file written survives stop and start (with a new token, the old one refused);
an idle workbench is stopped; the dependency panel installs a wheel into the workbench's own
environment (its kernel's interpreter) and records it in requirements.txt.
One JupyterLab start takes a few seconds on two cores: the flow shares starts on purpose."""

from __future__ import annotations

import subprocess
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from backend.models import Workbench, WorkbenchPackage
from backend.services.space import packages as workbench_packages
from backend.services.space import runtime as workbench_runtime
from backend.services.space import workbenches
from backend.settings import Settings
from tests.unit.identity_world import add_tenant, add_user, sign

WAIT_S = 90


def _wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel made by hand (no index is reached)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "medai_demo_pkg-0.1.0-py3-none-any.whl"
    info = "medai_demo_pkg-0.1.0.dist-info"
    files = {
        "medai_demo_pkg/__init__.py": "ANSWER = 42\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: medai-demo-pkg\nVersion: 0.1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return path


@pytest.fixture
def settings(tmp_path, clean_env) -> Settings:
    wheels = tmp_path / "wheels"
    _wheel(wheels)
    return Settings(
        data_dir=tmp_path / "data",
        workbench_pip_index_url="none",
        workbench_pip_find_links=str(wheels),
        _env_file=None,
    )


@pytest.fixture
def stopped_afterwards(runtime):
    """Whatever the test leaves running (a failure halfway, say) is stopped."""
    yield runtime
    with runtime.session() as session:
        for row in session.exec(select(Workbench).where(Workbench.compute_ref != "")).all():
            runtime.compute.cancel(row.compute_ref)


def _pass(rt) -> None:
    with rt.session() as session:
        workbench_runtime.reconcile(session, rt.compute, rt.keys, rt.settings)


def _until(rt, workbench_id: str, wanted: str) -> Workbench:
    deadline = time.monotonic() + WAIT_S
    while True:
        _pass(rt)
        with rt.session() as session:
            row = session.get(Workbench, workbench_id)
        if row.status == wanted or time.monotonic() > deadline:
            assert row.status == wanted, f"{row.status}: {row.reason}"
            return row
        time.sleep(0.3)


def _open(rt, who, workbench_id: str) -> tuple[str, str]:
    with rt.session() as session:
        link = workbenches.open_ide(session, rt.keys, who, workbench_id)
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}", parse_qs(parts.query)["token"][0]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _remote(tmp_path: Path) -> Path:
    """A bare repository with one commit, as a Git server would hold it."""
    seed, bare = tmp_path / "seed", tmp_path / "cohort.git"
    seed.mkdir()
    _git("init", "-q", "-b", "main", cwd=seed)
    (seed / "README.md").write_text("ECG cohort analysis\n")
    _git("add", ".", cwd=seed)
    _git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "start", cwd=seed)
    _git("clone", "-q", "--bare", str(seed), str(bare), cwd=tmp_path)
    return bare


def test_jupyterlab_starts_with_its_token_keeps_files_pushes_with_git_and_stops_when_idle(
    runtime, stopped_afterwards, tmp_path
):
    tenant = add_tenant(runtime, "xiangya-lab")
    _, dev = sign(runtime, add_user(runtime, "dev@xy.cn", [(tenant, "developer")], name="Dr Li"))
    with runtime.session() as session:
        wb = workbenches.create(session, runtime.settings, dev, workbenches.WorkbenchSpec("ecg-lab", cpu=1)).id
    running = _until(runtime, wb, "running")
    url, token = _open(runtime, dev, wb)
    assert url.startswith("http://127.0.0.1:") and token not in (running.token_sealed or "")
    with httpx.Client(base_url=url, timeout=30) as client:
        auth = {"Authorization": f"token {token}"}
        assert client.get("/api/status").status_code == 403
        assert client.get("/api/status", headers={"Authorization": "token wrong"}).status_code == 403
        assert client.get("/api/status", headers=auth).status_code == 200
        kernel = client.get("/api/kernelspecs", headers=auth).json()["kernelspecs"]["python3"]["spec"]
        assert kernel["argv"][0].endswith("/env/bin/python")  # the workbench's own environment
        note = {"type": "file", "format": "text", "content": "print('hello ward 3')\n"}
        assert client.put("/api/contents/ward.py", json=note, headers=auth).status_code in (200, 201)

        # Git through jupyterlab-git: clone, commit, push
        bare = _remote(tmp_path)
        cloned = client.post("/git/clone", json={"clone_url": f"file://{bare}"}, headers=auth)
        assert cloned.status_code == 200 and cloned.json()["code"] == 0, cloned.text
        analysis = {"type": "file", "format": "text", "content": "import statistics\n"}
        assert client.put("/api/contents/cohort/analysis.py", json=analysis, headers=auth).status_code in (200, 201)
        assert client.post("/git/cohort/add", json={"add_all": True}, headers=auth).json()["code"] == 0
        committed = client.post("/git/cohort/commit", json={"commit_msg": "QT interval analysis"}, headers=auth)
        assert committed.json()["code"] == 0, committed.text
        pushed = client.post("/git/cohort/push", json={}, headers=auth)
        assert pushed.json()["code"] == 0, pushed.text
        # a kernel's activity is what counts; the controller's own questions do not
        kernel = client.post("/api/kernels", json={"name": "python3"}, headers=auth)
        assert kernel.status_code == 201, kernel.text
        before = client.get("/api/status", params={"no_track_activity": "1"}, headers=auth).json()["last_activity"]
        with httpx.Client() as asker:
            seen = workbench_runtime.last_work(asker, url, token, datetime.now(UTC))
            assert seen is not None and workbench_runtime.last_work(asker, url, token, datetime.now(UTC)) >= seen
        after = client.get("/api/status", params={"no_track_activity": "1"}, headers=auth).json()["last_activity"]
        assert after == before
        assert client.delete(f"/api/kernels/{kernel.json()['id']}", headers=auth).status_code == 204
    log = _git("log", "--format=%an|%s", "main", cwd=bare)
    assert log.splitlines()[0] == "Dr Li|QT interval analysis"

    # the dependency panel: a wheel into the workbench's environment, then requirements.txt
    with runtime.session() as session:
        workbench_packages.request_install(session, dev, wb, "medai-demo-pkg==0.1.0")
    deadline = time.monotonic() + WAIT_S
    while True:
        _pass(runtime)
        with runtime.session() as session:
            package = session.exec(select(WorkbenchPackage)).one()
        if package.status in ("installed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert package.status == "installed", package.detail
    home = workbenches.home_folder(runtime.settings, wb)
    env_python = home.parent / "env" / "bin" / "python"
    answer = subprocess.run([str(env_python), "-c", "import medai_demo_pkg; print(medai_demo_pkg.ANSWER)"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert answer.stdout.strip() == "42"
    assert (home / "requirements.txt").read_text().splitlines() == ["medai-demo-pkg==0.1.0"]

    # stop and start: the files are there, under a new token
    with runtime.session() as session:
        workbenches.stop(session, dev, wb)
    _until(runtime, wb, "stopped")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/status", timeout=5)
    with runtime.session() as session:
        workbenches.start(session, dev, wb)
    _until(runtime, wb, "running")
    url, new_token = _open(runtime, dev, wb)
    assert new_token != token
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/status", headers={"Authorization": f"token {token}"}).status_code == 403
        kept = client.get("/api/contents/ward.py", headers={"Authorization": f"token {new_token}"})
        assert kept.status_code == 200 and kept.json()["content"] == "print('hello ward 3')\n"

    # idle: a one-second timeout, and nothing touches JupyterLab for two seconds
    with runtime.session() as session:
        row = session.get(Workbench, wb)
        row.idle_timeout_s = 1
        session.add(row)
    time.sleep(2.5)
    stopped = _until(runtime, wb, "stopped")
    assert "without activity" in stopped.reason
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/status", timeout=5)
