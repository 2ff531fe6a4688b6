"""Knowledge bases: ingestion speed, retrieval latency, and what hybrid retrieval buys.

1. Ingest 10,000 chunks through the real path (parse, chunk, jieba tokens, MiniLM embeddings,
   embedded Chroma, chunk rows): chunks/s, and the share of the time spent embedding.
2. Retrieval p50/p99 for vector, text (BM25) and hybrid at 10k chunks, then at 100k (90k more
   chunks added straight to the stores: tokenised rows, and vectors near the real ones).
   Every query is a new text, so the query embedding is computed each time (no cache hit).
3. hit@5 of hybrid against vector-only on a small bilingual medical test set written here.

Target (issue 7): hybrid p50 <= 30 ms at 100k chunks on 2 cores. Run: `python -m bench knowledge`.
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
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.models.identity import new_id
from backend.runtime import Runtime, build_runtime
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import recall as knowledge_recall
from backend.services.knowledge.index import collection_name
from backend.services.knowledge.search import search
from backend.services.knowledge.text_search import index_terms
from backend.settings import Settings
from tests.unit.identity_world import add_tenant, add_user, sign

SMALL, LARGE = 10_000, 100_000
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


def _create(rt: Runtime, owner, name: str, size: int, overlap: int) -> KnowledgeBase:
    with rt.session() as session:
        spec = knowledge.KnowledgeBaseSpec(name=name, chunk_size=size, chunk_overlap=overlap, top_k=5)
        return knowledge.create_knowledge_base(session, rt.knowledge, owner, spec)


def ingest(rt: Runtime, owner, kb: KnowledgeBase) -> int:
    rng = random.Random(7)
    per_doc, size = 1000, CHUNK_CHARS
    embed_s = 0.0
    real_embed = rt.knowledge.embed

    def timed(model: str, texts: list[str]) -> list[list[float]]:
        nonlocal embed_s
        started = time.perf_counter()
        try:
            return real_embed(model, texts)
        finally:
            embed_s += time.perf_counter() - started

    rt.knowledge.embed = timed  # type: ignore[method-assign]
    rt.knowledge.embedder.embed(["warm up the model"])
    started, total = time.perf_counter(), 0
    try:
        for number in range(SMALL // per_doc):
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
    return total


def grow(rt: Runtime, kb: KnowledgeBase, target: int) -> None:
    """Add chunks straight to the stores until the knowledge base holds ``target``: tokenised
    rows for BM25 and, for Chroma, the real vectors with a little noise (a realistic neighbourhood)."""
    rng = random.Random(11)
    with rt.session() as session:
        have = session.query(KnowledgeChunk).filter(KnowledgeChunk.knowledge_base_id == kb.id).count()
        real = np.array(
            rt.knowledge.embed(kb.embedding_model, [_sentence(rng, n) for n in range(2000)]), dtype=np.float32
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
                "meta": base,
            }
            for i, text in enumerate(texts)
        ]
        with rt.session() as session:
            session.execute(insert(KnowledgeChunk), rows)
        vectors = real[noise.integers(0, len(real), count)] + noise.normal(0, 0.05, (count, real.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        metadatas = [{**base, "knowledge_base_id": kb.id} for _ in rows]
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


# a small bilingual test set: documents and the queries each should answer
TEST_DOCS = {
    "hypertension.txt": "高血压患者应限制钠盐摄入，每日食盐不超过5克。首选药物包括氨氯地平、缬沙坦等。",
    "diabetes.txt": "2型糖尿病的一线口服药物是二甲双胍。空腹血糖目标4.4至7.0 mmol/L，糖化血红蛋白低于7%。",
    "warfarin.txt": "Warfarin therapy requires INR monitoring; the usual target INR range is 2.0 to 3.0.",
    "asthma.txt": "Asthma attacks are relieved with inhaled salbutamol; inhaled corticosteroids control symptoms.",
    "gout.txt": "痛风急性发作可用秋水仙碱或非甾体抗炎药；长期降尿酸治疗常用别嘌醇，目标血尿酸低于360。",
    "stroke.txt": "Suspected stroke: check the time of onset; thrombolysis with alteplase within 4.5 hours.",
    "ckd.txt": "慢性肾病患者需定期检测血肌酐和估算肾小球滤过率，避免使用肾毒性药物。",
    "thyroid.txt": "Hypothyroidism is treated with levothyroxine; TSH is rechecked six to eight weeks after a change.",
    "copd.txt": "慢阻肺稳定期推荐长效支气管扩张剂，急性加重时可短期使用口服糖皮质激素。",
    "af.txt": "心房颤动患者应评估卒中风险（CHA2DS2-VASc评分），高风险者需抗凝治疗。",
}
TEST_QUERIES = [
    ("每日食盐不超过多少克", "hypertension.txt"),
    ("二甲双胍", "diabetes.txt"),
    ("糖化血红蛋白目标", "diabetes.txt"),
    ("INR target range", "warfarin.txt"),
    ("salbutamol inhaler", "asthma.txt"),
    ("秋水仙碱", "gout.txt"),
    ("降尿酸 别嘌醇", "gout.txt"),
    ("alteplase thrombolysis window", "stroke.txt"),
    ("肾小球滤过率", "ckd.txt"),
    ("levothyroxine TSH", "thyroid.txt"),
    ("慢阻肺急性加重", "copd.txt"),
    ("CHA2DS2-VASc 抗凝", "af.txt"),
    ("What is the first-line drug for type 2 diabetes?", "diabetes.txt"),
    ("how much salt for high blood pressure", "hypertension.txt"),
]


def hit_at_5(rt: Runtime, owner) -> None:
    """The 10 answering documents among 40 distractors that share their vocabulary."""
    kb = _create(rt, owner, "bilingual test set", 200, 0)
    rng = random.Random(5)
    distractors = {f"note-{n:02d}.txt": _sentence(rng, n) + _sentence(rng, n + 100) for n in range(40)}
    for name, text in {**TEST_DOCS, **distractors}.items():
        with rt.session() as session:
            knowledge_documents.upload_document(session, rt.knowledge, rt.objects, owner, kb.id, name, text.encode())
    with rt.session() as session:
        row = session.get(KnowledgeBase, kb.id)
        for mode in ("vector", "text", "hybrid"):
            ranks = [
                knowledge_recall.first_hit(
                    [c.document_name for c in search(session, rt.knowledge, row, q, top_k=5, mode=mode)], {doc}
                )
                for q, doc in TEST_QUERIES
            ]
            result = knowledge_recall.score(ranks, 5)
            print(f"  {mode:6s}: hit@5 {result.hit_rate:.2f}  MRR@5 {result.mrr:.2f}  ({len(ranks)} queries)")
            if mode == "vector":
                vector_hit = result.hit_rate
    print(f"  hybrid vs vector-only hit@5: {result.hit_rate:.2f} vs {vector_hit:.2f}")


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="medai-bench-kb-") as folder:
        rt, owner = _setup(Path(folder))
        print(f"machine: {os.cpu_count()} CPUs visible; vectors: {rt.knowledge.vectors.backend}")
        print("hit@5 on the bilingual medical test set:")
        hit_at_5(rt, owner)
        kb = _create(rt, owner, "corpus", CHUNK_CHARS, 0)
        ingest(rt, owner, kb)
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
