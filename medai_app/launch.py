"""`make run`: serve the app on one port, reusing the production frontend build while it is current.

`reflex run --env prod` compiles the pages and rebuilds the frontend with npm and Vite at every
start (about half a minute on two cores). This launcher fingerprints what the build is made of
(the UI sources, the assets, rxconfig.py, requirements.txt, the installed Reflex packages and the
URLs baked into the bundle) and rebuilds only when that changed, with
`reflex export --frontend-only --no-zip`. Then it serves exactly as `reflex run --env prod` does
after its build: the backend with the compiled frontend mounted, one port, MEDAI_HOST:MEDAI_PORT.

    python -m medai_app.launch [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
# What the compiled frontend is made of, relative to the project root. Not reflex.lock/: Reflex
# rewrites its npm lock files at every install, and what they pin follows the Reflex packages.
SOURCE_DIRS = ("pages", "components", "state", "assets", "medai_app")
SOURCE_FILES = ("rxconfig.py", "requirements.txt")
BYTECODE_DIR, BYTECODE = "__pycache__", (".pyc", ".pyo")
GENERATED_ASSETS = Path("assets/external")  # the links Reflex makes for rx.asset(shared=True)
# Config values the build bakes into the bundle (env.json, router base path).
BAKED_SETTINGS = ("api_url", "deploy_url", "frontend_path", "backend_path", "transport")
FINGERPRINT_NAME = "medai-fingerprint.json"  # kept in .web/build, so any other build removes it


@dataclass(frozen=True)
class Fingerprint:
    """What one frontend build was made of: a digest per source file, a version per Reflex package
    and the baked settings, each under a name a person can read."""

    entries: Mapping[str, str]

    @property
    def digest(self) -> str:
        text = json.dumps(dict(self.entries), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def changes_since(self, previous: Fingerprint) -> list[str]:
        """What differs from ``previous``, one phrase per entry, in name order."""
        changes = []
        for name in sorted(set(self.entries) | set(previous.entries)):
            old, new = previous.entries.get(name), self.entries.get(name)
            if old == new:
                continue
            if old is None:
                changes.append(f"{name} added")
            elif new is None:
                changes.append(f"{name} removed")
            elif name.startswith(("package ", "setting ")):
                changes.append(f"{name} {old} -> {new}")
            else:
                changes.append(f"{name} changed")
        return changes


def source_files(root: Path) -> Iterator[Path]:
    """The files of ``root`` that the frontend build is compiled from."""
    for name in SOURCE_DIRS:
        folder = root / name
        if folder.is_dir():
            yield from (p for p in folder.rglob("*") if p.is_file() and _is_source(p.relative_to(root)))
    yield from (root / name for name in SOURCE_FILES if (root / name).is_file())


def _is_source(relative: Path) -> bool:
    return (
        BYTECODE_DIR not in relative.parts
        and not relative.is_relative_to(GENERATED_ASSETS)
        and relative.suffix not in BYTECODE
    )


def source_fingerprint(root: Path, extra: Mapping[str, str] | None = None) -> Fingerprint:
    """A digest of each source file under ``root``, plus ``extra`` entries (packages, settings)."""
    entries = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in source_files(root)
    }
    return Fingerprint({**entries, **(extra or {})})


def reflex_packages() -> dict[str, str]:
    """The installed version of every Reflex distribution (reflex, reflex-base, its components)."""
    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith("reflex"):
            found[f"package {name}"] = dist.version
    return found


def baked_settings() -> dict[str, str]:
    """The Reflex config values the build writes into the bundle (they follow MEDAI_PORT and friends)."""
    from reflex_base.config import get_config

    config = get_config()
    return {f"setting {name}": str(getattr(config, name)) for name in BAKED_SETTINGS}


def current_fingerprint() -> Fingerprint:
    return source_fingerprint(ROOT, {**reflex_packages(), **baked_settings()})


def fingerprint_path() -> Path:
    from reflex.utils.prerequisites import get_web_dir
    from reflex_base import constants

    return get_web_dir() / constants.Dirs.BUILD_DIR / FINGERPRINT_NAME


def built_fingerprint() -> Fingerprint | None:
    """The fingerprint of the build in .web, or None when there is no complete build of ours."""
    from reflex.utils.prerequisites import get_web_dir
    from reflex_base import constants

    index = get_web_dir() / constants.Dirs.STATIC / "index.html"
    try:
        entries = json.loads(fingerprint_path().read_text())
    except (OSError, ValueError):
        return None
    return Fingerprint(entries) if index.is_file() and isinstance(entries, dict) else None


def build_frontend(fingerprint: Fingerprint) -> None:
    """Compile the pages and build the production bundle, then record what it was built from."""
    command = [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip"]
    if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
        raise SystemExit("the frontend build failed (see above); nothing is served")
    fingerprint_path().write_text(json.dumps(dict(fingerprint.entries), indent=1, sort_keys=True))


def ensure_frontend(rebuild: bool) -> None:
    """Reuse the frontend build when its fingerprint matches; rebuild it and say why otherwise."""
    wanted = current_fingerprint()
    built = None if rebuild else built_fingerprint()
    if built is not None and built.digest == wanted.digest:
        print(f"frontend build reused (fingerprint {wanted.digest})", flush=True)
        return
    if rebuild:
        reason = "rebuild requested"
    elif built is None:
        reason = "no recorded build"
    else:
        changes = wanted.changes_since(built)
        reason = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
    print(f"frontend build out of date ({reason}): rebuilding", flush=True)
    build_frontend(wanted)
    print(f"frontend rebuilt: {reason} (fingerprint {wanted.digest})", flush=True)


def require_free_port() -> None:
    """Stop before any build when MEDAI_PORT is taken, with Reflex's own message, as `reflex run` does."""
    from reflex.utils import processes
    from reflex_base.config import get_config

    processes.handle_port("app", get_config().backend_port, auto_increment=False)


def serve() -> NoReturn:
    """What `reflex run --env prod` does once its build is done: the production backend, with the
    compiled frontend mounted on the same port, skipping the compile (workers evaluate the pages)."""
    from reflex.istate.manager import reset_disk_state_manager
    from reflex.utils import exec as reflex_exec
    from reflex_base import constants
    from reflex_base.config import get_config
    from reflex_base.environment import environment

    config = get_config()
    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_COMPILE_CONTEXT.set(constants.CompileContext.RUN)
    environment.REFLEX_SKIP_COMPILE.set(True)
    reset_disk_state_manager()
    host, port = config.backend_host, config.backend_port
    reflex_exec.notify_app_running()
    reflex_exec.notify_frontend(f"http://{host}:{port}", backend_present=True)
    reflex_exec.run_backend_prod(host, port, config.loglevel.subprocess_level(), mount_frontend_compiled_app=True)
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m medai_app.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the frontend even if it is current")
    args = parser.parse_args(argv)
    require_free_port()
    ensure_frontend(rebuild=args.rebuild)
    serve()


if __name__ == "__main__":
    main()
