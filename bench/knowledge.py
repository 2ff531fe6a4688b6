"""Knowledge bases: ingestion speed and retrieval latency (quality is bench/retrieval_quality.py).

1. Ingest 1,000 chunks through the real path (parse, chunk, jieba tokens, embeddings, embedded
   Chroma, chunk rows) with the default model (multilingual-e5-small) and with MiniLM: chunks/s,
   the share of the time spent embedding, and e5's rate as a ratio to MiniLM's.
2. Retrieval p50/p99 for vector, text (BM25) and hybrid at 10k chunks, then at 100k (the rest
   added straight to the stores: tokenised rows, and vectors near real ones), rerank off.
   Every query is a new text, so the query embedding is computed each time (no cache hit).

Target (issues 7 and 21): hybrid p50 <= 30 ms at 100k chunks on 2 cores with the default
embedder. Run: `python -m bench knowledge`.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from backend import db
from backend.adapters.embeddings import MINILM
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.models.identity import new_id
from backend.runtime import Runtime, build_runtime
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge.index import collection_name
from backend.services.knowledge.languages import detect
from backend.services.knowledge.search import search
from backend.services.knowledge.text_search import index_terms
from backend.settings import Settings
from tests.unit.identity_world import add_tenant, add_user, sign

INGESTED, SMALL, LARGE = 1_000, 10_000, 100_000  # real ingestion, then padded to 10k and 100k
CHUNK_CHARS = 120  # a short guideline paragraph; MiniLM's cost grows with the tokens per chunk
QUERIES = 60
TARGET_MS = 30.0
DISEASES = [
    "高血压",
    "2型糖尿病",
    "冠心病",
    "心房颤动",
    "慢性肾病",
    "哮喘",
    "慢阻肺",
    "脑卒中",
    "甲状腺功能减退",
    "痛风",
]
DRUGS = ["氨氯地平", "二甲双胍", "阿司匹林", "华法林", "他汀", "胰岛素", "沙丁胺醇", "别嘌醇", "左甲状腺素", "利尿剂"]
ENGLISH = ["hypertension", "diabetes", "angina", "atrial fibrillation", "kidney disease", "asthma", "COPD", "stroke"]
TESTS = ["血压", "空腹血糖", "糖化血红蛋白", "INR", "肌酐", "肺功能", "心电图", "尿酸", "TSH", "血脂"]


def _sentence(rng: random.Random, n: int) -> str:
    d, m, t = rng.choice(DISEASES), rng.choice(DRUGS), rng.choice(TESTS)
    if rng.random() < 0.3:
        e = rng.choice(ENGLISH)
        return f"Patients with {e} (case {n}) on {m} need {t} checked every {rng.randint(1, 12)} weeks. "
    return f"{d}患者（病例{n}）使用{m}治疗时，应每{rng.randint(1, 12)}周复查{t}，目标值因人而异。"


def _document(rng: random.Random, start: int, chunks: int, size: int) -> str:
    """Text that the recursive splitter cuts into about ``chunks`` chunks of ``size``: paragraphs
    just under the chunk size, so each becomes one chunk."""
    paragraphs = []
    for n in range(start, start + chunks):
        text = ""
        while len(text) < size * 0.8:
            text += _sentence(rng, n)
        paragraphs.append(text[: size - 5])
    return "\n\n".join(paragraphs)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _setup(folder: Path) -> tuple[Runtime, object]:
    rt = build_runtime(Settings(data_dir=folder, _env_file=None))
    db.upgrade(rt.engine)
    tenant = add_tenant(rt, "bench-hospital")
    owner = sign(rt, add_user(rt, "owner@bench-hospital.cn", [(tenant, "tenant_owner")]))[1]
    return rt, owner


def _create(rt: Runtime, owner, name: str, size: int, overlap: int, model: str = "") -> KnowledgeBase:
    with rt.session() as session:
        spec = knowledge.KnowledgeBaseSpec(
            name=name, chunk_size=size, chunk_overlap=overlap, top_k=5, embedding_model=model
        )
        return knowledge.create_knowledge_base(session, rt.knowledge, owner, spec)


def ingest(rt: Runtime, owner, kb: KnowledgeBase) -> float:
    """Ingest INGESTED chunks through the real path; chunks per second."""
    rng = random.Random(7)
    per_doc, size = 250, CHUNK_CHARS
    embed_s = 0.0
    real_embed = rt.knowledge.embed

    def timed(model: str, texts: list[str], *, query: bool = False) -> list[list[float]]:
        nonlocal embed_s
        started = time.perf_counter()
        try:
            return real_embed(model, texts, query=query)
        finally:
            embed_s += time.perf_counter() - started

    rt.knowledge.embed = timed  # type: ignore[method-assign]
    rt.knowledge.embed(kb.embedding_model, ["warm up the model"])
    started, total = time.perf_counter(), 0
    try:
        for number in range(INGESTED // per_doc):
            text = _document(rng, number * per_doc, per_doc, size)
            with rt.session() as session:
                doc = knowledge_documents.upload_document(
                    session, rt.knowledge, rt.objects, owner, kb.id, f"corpus-{number}.txt", text.encode(), inline=True
                )
                total += doc.chunk_count
            rate = total / (time.perf_counter() - started)
            print(f"  {total} chunks ingested ({rate:.0f} chunks/s so far)", flush=True)
    finally:
        rt.knowledge.embed = real_embed  # type: ignore[method-assign]
    elapsed = time.perf_counter() - started
    print(f"ingest: {total} chunks in {elapsed:.1f} s = {total / elapsed:.0f} chunks/s")
    print(f"  embedding took {embed_s / elapsed:.0%} of it; the rest is parse, jieba, Chroma and rows")
    return total / elapsed


def grow(rt: Runtime, kb: KnowledgeBase, target: int) -> None:
    """Add chunks straight to the stores until the knowledge base holds ``target``: tokenised
    rows for BM25 and, for Chroma, the real vectors with a little noise (a realistic neighbourhood)."""
    rng = random.Random(11)
    with rt.session() as session:
        have = session.query(KnowledgeChunk).filter(KnowledgeChunk.knowledge_base_id == kb.id).count()
        real = np.array(
            rt.knowledge.embed(kb.embedding_model, [_sentence(rng, n) for n in range(500)]), dtype=np.float32
        )
        doc = KnowledgeDocument(
            tenant_id=kb.tenant_id,
            knowledge_base_id=kb.id,
            name="synthetic.txt",
            file_format="txt",
            sha256="0" * 64,
            status="ready",
            progress=1.0,
            created_by="bench",
            created_by_id="bench",
        )
        session.add(doc)
    noise = np.random.default_rng(3)
    started, batch = time.perf_counter(), 5000
    base = {"document_id": doc.id, "document_name": doc.name}
    for offset in range(have, target, batch):
        count = min(batch, target - offset)
        texts = [_sentence(rng, offset + i) + _sentence(rng, offset + i) for i in range(count)]
        rows = [
            {
                "id": new_id(),
                "tenant_id": kb.tenant_id,
                "knowledge_base_id": kb.id,
                "document_id": doc.id,
                "ordinal": offset + i,
                "kind": "chunk",
                "text": text,
                "terms": index_terms(text),
                "language": detect(text),
                "meta": base,
            }
            for i, text in enumerate(texts)
        ]
        with rt.session() as session:
            session.execute(insert(KnowledgeChunk), rows)
        vectors = real[noise.integers(0, len(real), count)] + noise.normal(0, 0.05, (count, real.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        metadatas = [{**base, "knowledge_base_id": kb.id, "_lang": r["language"]} for r in rows]
        rt.knowledge.vectors.upsert(
            collection_name(kb.id), kb.tenant_id, [r["id"] for r in rows], vectors.tolist(), metadatas
        )
        print(f"  {offset + count} chunks", flush=True)
    with rt.session() as session:
        row = session.get(KnowledgeBase, kb.id)
        row.index_version += 1
        session.add(row)
    print(f"grew to {target} chunks in {time.perf_counter() - started:.0f} s (bulk rows + Chroma upserts)")


def latencies(rt: Runtime, kb_id: str, label: str, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    p50s: dict[str, float] = {}
    with rt.session() as session:
        kb = session.get(KnowledgeBase, kb_id)
        started = time.perf_counter()
        search(session, rt.knowledge, kb, "预热", mode="text")  # builds the BM25 index once
        print(f"  {label} BM25 index built from the chunk table in {time.perf_counter() - started:.2f} s")
        for mode in ("vector", "text", "hybrid"):
            samples = []
            for n in range(QUERIES):
                query = f"{rng.choice(DISEASES)}患者{rng.choice(DRUGS)}复查{rng.choice(TESTS)} q{seed}-{mode}-{n}"
                started = time.perf_counter()
                search(session, rt.knowledge, kb, query, top_k=5, mode=mode)
                samples.append(time.perf_counter() - started)
            p50, p99 = _percentiles(samples)
            p50s[mode] = p50
            print(f"  {label} {mode:6s}: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    return p50s


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="medai-bench-kb-") as folder:
        rt, owner = _setup(Path(folder))
        print(f"machine: {os.cpu_count()} CPUs visible; vectors: {rt.knowledge.vectors.backend}")
        english = _create(rt, owner, "corpus-minilm", CHUNK_CHARS, 0, MINILM)
        baseline = ingest(rt, owner, english)
        kb = _create(rt, owner, "corpus", CHUNK_CHARS, 0)
        rate = ingest(rt, owner, kb)
        print(f"ingestion with {kb.embedding_model}: {rate:.1f} chunks/s = {rate / baseline:.2f}x MiniLM's")
        grow(rt, kb, SMALL)
        print("retrieval at 10k chunks (each query embedded anew):")
        latencies(rt, kb.id, "10k ", 1)
        grow(rt, kb, LARGE)
        print("retrieval at 100k chunks:")
        at_large = latencies(rt, kb.id, "100k", 2)
        ratio = at_large["hybrid"] / at_large["vector"]
        print(f"  hybrid/vector p50 ratio at 100k: {ratio:.2f}x (the BM25 and fusion overhead)")
        met = "met" if at_large["hybrid"] <= TARGET_MS else "NOT met"
        print(f"target hybrid p50 <= {TARGET_MS:.0f} ms at 100k: {at_large['hybrid']:.1f} ms, {met}")
        rt.engine.dispose()


if __name__ == "__main__":
    main()
