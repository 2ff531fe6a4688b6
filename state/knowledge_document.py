"""/knowledge/[kb_id]/documents/[document_id]?from=…&to=…: one document's text with a cited
passage marked and scrolled into view (agents' citations link here)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import reflex as rx

from backend.errors import MedAIError
from backend.services.knowledge import views as knowledge_views
from state.auth import AuthState
from state.feedback import error_toast

PASSAGE_ID = "cited-passage"
# the page's text arrives with the state: look for the mark a few times before giving up
SCROLL_SCRIPT = (
    "(function(tries){const go=()=>{const mark=document.getElementById('" + PASSAGE_ID + "');"
    "if(mark){mark.scrollIntoView({block:'center'});}else if(tries-->0){setTimeout(go,100);}};go();})(40)"
)


def document_href(knowledge_base_id: str, document_id: str, start: int | None = None, end: int | None = None) -> str:
    """The document page's address, at the passage ``[start, end)`` when it is known; "" without ids."""
    if not knowledge_base_id or not document_id:
        return ""
    path = f"/knowledge/{quote(knowledge_base_id, safe='')}/documents/{quote(document_id, safe='')}"
    if start is None or end is None or start < 0 or end <= start:
        return path
    return f"{path}?{urlencode({'from': start, 'to': end})}"


def _offset(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class KnowledgeDocumentState(AuthState):
    document: dict[str, str] = {}  # name, format, knowledge base, chars, the passage's place
    before: str = ""
    passage: str = ""
    after: str = ""
    asked_passage: bool = False  # the address named a passage (from/to)
    clipped: bool = False
    loaded: bool = False  # the last load has answered (with the text or a refusal)

    @rx.var
    def kb_id(self) -> str:
        return self.router.page.params.get("kb_id", "")

    @rx.var
    def document_id(self) -> str:
        return self.router.page.params.get("document_id", "")

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.document, self.before, self.passage, self.after, self.clipped = {}, "", "", "", False
        self.loaded = False
        query = self.router.url.query_parameters
        start, end = _offset(query.get("from")), _offset(query.get("to"))
        self.asked_passage = start is not None and end is not None
        if not self.signed_in or self.must_change_password or not self.tenant_id or not self.kb_id:
            self.loaded = True
            return
        kb_id, document_id = self.kb_id, self.document_id
        try:
            page: knowledge_views.DocumentPage = await self._as_user(
                lambda rt, session, principal: knowledge_views.document_page(
                    session, rt.objects, principal, kb_id, document_id, start, end
                )
            )
        except MedAIError as error:
            self.loaded = True
            yield error_toast(error)
            return
        self.loaded = True
        self.before, self.passage, self.after = page.before, page.passage, page.after
        self.clipped = page.clipped_before or page.clipped_after
        shown_to = page.shown_from + len(page.before) + len(page.passage) + len(page.after)
        self.document = {
            "id": page.document_id,
            "name": page.name,
            "format": page.file_format,
            "kb_id": page.knowledge_base_id,
            "kb_name": page.knowledge_base_name,
            "kb_href": f"/knowledge/{quote(page.knowledge_base_id, safe='')}",
            "chars": str(page.chars),
            "shown": f"{page.shown_from}–{shown_to} / {page.chars}",
            "passage_at": f"{start}–{end}" if page.passage else "",
        }
        if page.passage:
            yield rx.call_script(SCROLL_SCRIPT)

    @rx.event
    def to_passage(self):  # noqa: ANN201 (Reflex event)
        return rx.call_script(SCROLL_SCRIPT)
