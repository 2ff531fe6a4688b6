"""A knowledge base's own vocabulary for full-text search, and re-indexing its full-text side.

A person with knowledge update rights gives the knowledge base dictionary words (kept as one
BM25 term, e.g. a ward's or a formulary's own names) and synonym groups (applied at query time
beside the platform's), see ``text_search.KbVocabulary``. Synonyms take effect at once; the
words change how chunks are tokenised, so saving marks the knowledge base
``text_index_status = "queued"``. The controller's knowledge pass (``start_text_reindexing``, in
its own thread, ``index.text_worker``) claims it (``running``), pages through the knowledge
base's chunks and stores their ``terms`` again with the vocabulary it claimed (chunks already
current are skipped, so a resumed job only does what is left), committing the progress with
each page. At the end one update bumps ``index_version`` (the in-memory BM25 index is rebuilt
from the new terms) and sets ``done``. Searching keeps working meanwhile: a chunk not yet
re-tokenised is tokenised again from its text when the in-memory index is built.

A save during a run puts the status back to ``queued``: the running job sees that at its next
page, stops, and the worker claims the new vocabulary. A job left ``running`` by a process that
died is queued again once it has been quiet for claims.STALE_AFTER (its status and progress live in the
database, so it resumes after a restart). A failure sets ``failed`` with the reason.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlmodel import Session, col, func, select, update

from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, KnowledgeChunk
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge import claims
from backend.services.knowledge.bases import visible_knowledge_base
from backend.services.knowledge.index import KnowledgeIndex
from backend.services.knowledge.text_search import KbVocabulary, index_terms, is_current

logger = logging.getLogger(__name__)

OpenSession = Callable[[], AbstractContextManager[Session]]
MAX_TERMS = 2000  # dictionary words per knowledge base
MAX_GROUPS = 500  # synonym groups per knowledge base
MAX_MEMBERS = 20  # words in one synonym group
MAX_CHARS = 64  # characters in one word or member
TEXT_INDEX_ACTIVE = ("queued", "running")  # a full-text re-index is waiting or running
BATCH = 500  # chunks re-tokenised and committed at a time
SEPARATORS = re.compile(r"[,，\t]")  # between the members of a group, in a line of text
_WORD_CHARACTER = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class VocabularyView:
    """A knowledge base's own vocabulary and the state of its full-text re-index."""

    knowledge_base_id: str
    terms: tuple[str, ...]
    synonyms: tuple[tuple[str, ...], ...]
    text_index_status: str  # "" (never) | queued | running | failed | done
    text_index_progress: float  # 0..1
    text_index_reason: str  # why it failed

    @classmethod
    def of(cls, kb: KnowledgeBase) -> VocabularyView:
        return cls(
            kb.id,
            tuple(kb.vocabulary_terms),
            tuple(tuple(group) for group in kb.vocabulary_synonyms),
            kb.text_index_status,
            kb.text_index_progress,
            kb.text_index_reason,
        )


# text as the page writes it: one word per line; one group per line, members split by , ， or tab


def parse_terms(text: str) -> list[str]:
    """Dictionary words, one per line (blank lines skipped)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_synonyms(text: str) -> list[list[str]]:
    """Synonym groups, one per line, members separated by ',', '，' or tabs (blank lines skipped)."""
    groups = ([m.strip() for m in SEPARATORS.split(line)] for line in text.splitlines())
    return [[m for m in group if m] for group in groups if any(group)]


def format_terms(terms: Iterable[str]) -> str:
    return "\n".join(terms)


def format_synonyms(groups: Iterable[Sequence[str]]) -> str:
    return "\n".join(", ".join(group) for group in groups)


# checking -----------------------------------------------------------------------------------------


def _invalid(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, message, remedy)


def _word(raw: object, what: str) -> str:
    """One word or member: inner whitespace collapsed; DATA_INVALID when too long or wordless."""
    word = " ".join(str(raw).split())
    if len(word) > MAX_CHARS:
        raise _invalid(
            f"The {what} '{word[:MAX_CHARS]}…' is {len(word)} characters; the limit is {MAX_CHARS}.",
            "Shorten it, or split it into separate entries.",
        )
    if word and not _WORD_CHARACTER.search(word):
        raise _invalid(f"The {what} '{word}' has no letters or digits.", "Remove it, or type the word itself.")
    return word


def _distinct(words: Iterable[str]) -> list[str]:
    """The words without blanks and without repeats (ignoring case), in their first order."""
    seen: dict[str, str] = {}
    for word in words:
        if word and word.lower() not in seen:
            seen[word.lower()] = word
    return list(seen.values())


def check_vocabulary(terms: Sequence[str], synonyms: Sequence[Sequence[str]]) -> KbVocabulary:
    """The vocabulary as it is stored: stripped, blanks and repeats dropped; DATA_INVALID (with
    what to change) over the limits, for a group of fewer than two distinct members, or for an
    entry without letters or digits."""
    words = _distinct(_word(t, "dictionary word") for t in terms)
    if len(words) > MAX_TERMS:
        raise _invalid(
            f"{len(words)} dictionary words; a knowledge base may have at most {MAX_TERMS}.",
            f"Keep the {MAX_TERMS} words that matter most.",
        )
    groups: list[tuple[str, ...]] = []
    seen_groups: set[frozenset[str]] = set()
    for number, raw in enumerate(synonyms, start=1):
        members = _distinct(_word(m, "synonym") for m in raw)
        if not members:
            continue  # an empty line
        if len(members) < 2:
            raise _invalid(
                f"Synonym group {number} ('{members[0]}') has only one distinct member.",
                "Add at least one more word to the group (separated by a comma or tab), or remove the line.",
            )
        if len(members) > MAX_MEMBERS:
            raise _invalid(
                f"Synonym group {number} has {len(members)} members; the limit is {MAX_MEMBERS}.",
                "Split it into smaller groups of words that mean the same.",
            )
        key = frozenset(m.lower() for m in members)
        if key not in seen_groups:
            seen_groups.add(key)
            groups.append(tuple(members))
    if len(groups) > MAX_GROUPS:
        raise _invalid(
            f"{len(groups)} synonym groups; a knowledge base may have at most {MAX_GROUPS}.",
            f"Keep the {MAX_GROUPS} groups that matter most.",
        )
    return KbVocabulary(tuple(words), tuple(groups))


# use cases ----------------------------------------------------------------------------------------


def get_vocabulary(session: Session, principal: Principal, kb_id: str) -> VocabularyView:
    """The knowledge base's own dictionary words and synonym groups, with its re-index status."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    return VocabularyView.of(visible_knowledge_base(session, tenant_id, kb_id, principal))


def update_vocabulary(
    session: Session,
    index: KnowledgeIndex,
    principal: Principal,
    kb_id: str,
    terms: Sequence[str],
    synonyms: Sequence[Sequence[str]],
) -> VocabularyView:
    """Replace the knowledge base's own vocabulary and queue a re-index of its full-text side
    (synonyms apply to queries at once). Saving the same vocabulary again changes nothing, unless
    the last re-index failed (then it is queued again). The in-memory BM25 index of ``index`` keeps
    answering from the old terms until the re-index bumps the version (forgetting it now would make
    the next query re-tokenise every chunk of the knowledge base)."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.UPDATE)
    kb = visible_knowledge_base(session, tenant_id, kb_id, principal)
    checked = check_vocabulary(terms, synonyms)
    if checked == KbVocabulary.of(kb) and kb.text_index_status != "failed":
        return VocabularyView.of(kb)
    kb.vocabulary_terms = list(checked.terms)
    kb.vocabulary_synonyms = [list(group) for group in checked.synonyms]
    kb.text_index_status, kb.text_index_progress, kb.text_index_reason = "queued", 0.0, ""
    kb.updated_at = utcnow()
    session.add(kb)
    audit.record_by(
        session,
        principal,
        "knowledge_base.vocabulary",
        "knowledge_base",
        kb.id,
        name=kb.name,
        terms=len(checked.terms),
        synonym_groups=len(checked.synonyms),
    )
    return VocabularyView.of(kb)


# the controller's part ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextJob:
    kb_id: str
    tenant_id: str
    vocabulary: KbVocabulary  # as it was when the job was claimed


class SupersededError(Exception):
    """The job's knowledge base went away or was given another vocabulary meanwhile."""


def _claim(open_session: OpenSession) -> TextJob | None:
    """Take the oldest queued re-index (see claims.claim)."""
    return claims.claim(
        open_session,
        KnowledgeBase.text_index_status,
        KnowledgeBase.text_index_progress,
        KnowledgeBase.updated_at,
        lambda kb: TextJob(kb.id, kb.tenant_id, KbVocabulary.of(kb)),
    )


def _chunk_filter(job: TextJob) -> tuple:
    return (
        KnowledgeChunk.knowledge_base_id == job.kb_id,
        KnowledgeChunk.tenant_id == job.tenant_id,
        KnowledgeChunk.kind == "chunk",
    )


def _page(open_session: OpenSession, job: TextJob, after: str) -> list[tuple[str, str, str]]:
    """The next BATCH chunks by id after ``after``: (id, stored terms, text)."""
    with open_session() as session:
        rows = session.exec(
            select(KnowledgeChunk.id, KnowledgeChunk.terms, KnowledgeChunk.text)
            .where(*_chunk_filter(job), KnowledgeChunk.id > after)
            .order_by(col(KnowledgeChunk.id))
            .limit(BATCH)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _store(open_session: OpenSession, job: TextJob, rows: list[tuple[str, str, str]], fraction: float) -> int:
    """Store the page's stale chunks' terms with the progress, in one transaction; how many were
    stale. SupersededError (nothing stored) when the job is no longer running."""
    stale = [(chunk_id, text) for chunk_id, terms, text in rows if not is_current(terms, job.vocabulary)]
    with open_session() as session:
        moved = session.exec(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == job.kb_id, KnowledgeBase.text_index_status == "running")
            .values(text_index_progress=round(min(fraction, 0.99), 3), updated_at=utcnow())
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise SupersededError
        for chunk_id, text in stale:
            session.exec(
                update(KnowledgeChunk)
                .where(KnowledgeChunk.id == chunk_id)
                .values(terms=index_terms(text, job.vocabulary))
            )
    return len(stale)


def _finish(open_session: OpenSession, job: TextJob, chunks: int, retokenised: int) -> None:
    """Done: one update bumps the index version (the BM25 index is rebuilt) with the status."""
    with open_session() as session:
        done = session.exec(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == job.kb_id, KnowledgeBase.text_index_status == "running")
            .values(
                text_index_status="done",
                text_index_progress=1.0,
                text_index_reason="",
                index_version=KnowledgeBase.index_version + 1,
                updated_at=utcnow(),
            )
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise SupersededError
        audit.record_by(
            session,
            None,
            "knowledge_base.text_reindex_done",
            "knowledge_base",
            job.kb_id,
            tenant_id=job.tenant_id,
            chunks=chunks,
            retokenised=retokenised,
        )


def _fail(open_session: OpenSession, job: TextJob, reason: str) -> None:
    with open_session() as session:
        failed = session.exec(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == job.kb_id, KnowledgeBase.text_index_status == "running")
            .values(text_index_status="failed", text_index_reason=reason[:1000], updated_at=utcnow())
        )
        if failed.rowcount == 1:  # type: ignore[attr-defined]
            audit.record_by(
                session,
                None,
                "knowledge_base.text_reindex_failed",
                "knowledge_base",
                job.kb_id,
                tenant_id=job.tenant_id,
                outcome="failed",
                reason=reason[:200],
            )


def _run(open_session: OpenSession, job: TextJob) -> None:
    with open_session() as session:
        total = int(session.exec(select(func.count()).where(*_chunk_filter(job))).one())
    done = retokenised = 0
    after = ""
    while rows := _page(open_session, job, after):
        done += len(rows)
        retokenised += _store(open_session, job, rows, done / max(total, 1))
        after = rows[-1][0]
    _finish(open_session, job, done, retokenised)


def reindex_next(open_session: OpenSession, index: KnowledgeIndex) -> str | None:
    """Run one queued full-text re-index to its end; its knowledge base id, or None when none waits.
    (``index``'s BM25 cache follows by itself: the version bump at the end rebuilds it.)"""
    job = _claim(open_session)
    if job is None:
        return None
    try:
        _run(open_session, job)
    except SupersededError:
        pass  # deleted, or queued again with another vocabulary: the next claim takes that
    except Exception as exc:  # logged with its stack; the person sees the kind of failure
        logger.exception("re-indexing the full text of knowledge base %s failed", job.kb_id)
        _fail(open_session, job, f"Re-indexing the full text failed ({type(exc).__name__}). Save the vocabulary again.")
    return job.kb_id


def start_text_reindexing(open_session: OpenSession, index: KnowledgeIndex) -> bool:
    """The controller's reconciler: run queued full-text re-indexes in a worker thread, so a long
    one never holds up the other reconcilers. Returns whether a worker was started."""
    with index.lock:
        if index.text_worker is not None and index.text_worker.is_alive():
            return False
        with open_session() as session:
            waiting = session.exec(
                select(KnowledgeBase.id).where(col(KnowledgeBase.text_index_status).in_(TEXT_INDEX_ACTIVE))
            ).first()
        if waiting is None:
            return False

        def work() -> None:
            while reindex_next(open_session, index) is not None:
                pass

        index.text_worker = threading.Thread(target=work, name="medai-knowledge-text-index", daemon=True)
        index.text_worker.start()
        return True
