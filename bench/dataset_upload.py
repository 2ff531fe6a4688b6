"""Dataset import of a large JSONL file (default 1 GiB) against a plain file copy (baseline).

Each side runs in its own process so its peak RSS is its own. The import is the whole path
a user's upload takes: scratch copy, validation (shape, duplicates, token counts, PHI scan)
and storage in the embedded object store. Size: MEDAI_BENCH_DATASET_MB (default 1024).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE_MB = int(os.environ.get("MEDAI_BENCH_DATASET_MB", "1024"))
_ROW = {
    "instruction": "患者主诉胸闷气短两天，既往高血压病史十年，请给出初步评估与建议。",
    "input": "血压 150/95 mmHg，心率 88 次/分。",
    "output": "考虑高血压控制不佳，建议完善心电图、心肌酶谱检查，调整降压方案并随访。",
}


def _make(path: Path, size_mb: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        written, number = 0, 0
        while written < size_mb * 1024 * 1024:
            line = json.dumps({**_ROW, "id": number}, ensure_ascii=False) + "\n"
            out.write(line)
            written += len(line.encode())
            number += 1


def _copy(source: Path, folder: Path) -> None:
    shutil.copyfile(source, folder / "copy.jsonl")


def _import(source: Path, folder: Path) -> None:
    from backend import db
    from backend.models import Tenant
    from backend.runtime import build_runtime
    from backend.services.assets import datasets
    from backend.services.identity.access import Principal
    from backend.settings import Settings

    rt = build_runtime(Settings(data_dir=folder / "data", _env_file=None))
    db.upgrade(rt.engine)
    with rt.session() as session:
        tenant = Tenant(slug="bench", name="bench")
        session.add(tenant)
    principal = Principal(user_id="bench", label="bench", tenant_id=tenant.id, role="developer")
    with rt.session() as session, source.open("rb") as stream:
        datasets.import_version(
            session,
            rt.objects,
            principal,
            name="bench",
            filename="big.jsonl",
            stream=stream,
            scratch_dir=rt.settings.scratch_dir,
        )


def _child(kind: str, source: str, folder: str) -> None:
    started = time.perf_counter()
    {"copy": _copy, "import": _import}[kind](Path(source), Path(folder))
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_mb}))


def _run(kind: str, source: Path, folder: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.dataset_upload", kind, str(source), str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="medai-bench-") as tmp:
        folder = Path(tmp)
        source = folder / "big.jsonl"
        _make(source, SIZE_MB)
        mb = source.stat().st_size / 1024 / 1024
        copy = _run("copy", source, folder)
        imported = _run("import", source, folder)
    print(f"file: {mb:.0f} MiB JSONL")
    print(f"plain copy (baseline): {mb / copy['seconds']:.0f} MB/s, peak RSS {copy['peak_rss_mb']:.0f} MiB")
    print(f"dataset import:        {mb / imported['seconds']:.0f} MB/s, peak RSS {imported['peak_rss_mb']:.0f} MiB")
    print(f"ratio import/copy time: {imported['seconds'] / copy['seconds']:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _child(*sys.argv[1:])
    else:
        main()
