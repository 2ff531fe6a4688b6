"""The web chat page of a published agent (/agents/[agent_id]/chat, embeddable in an iframe):
a conversation with the live version, answers streamed, citations under each answer."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend.services.agents import runs as agent_runs
from backend.services.agents import views as agent_views
from state.agent_run import RunView, follow_run
from state.auth import AuthState
from state.feedback import error_toast


class AgentChatState(AuthState):
    agent_id: str = ""
    agent_name: str = ""
    live: bool = False
    messages: list[dict[str, Any]] = []  # {role, content, citations: [{document, chunk, text, score, href}]}
    draft: str = ""
    answering: bool = False
    conversation_id: str = ""

    @rx.event
    async def load(self) -> None:
        self.agent_id = str(self.router.page.params.get("agent_id", ""))
        self.messages, self.conversation_id = [], ""
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            return
        agent_id = self.agent_id
        header = await self._as_user(
            lambda _rt, session, principal: agent_views.chat_header(session, principal, agent_id)
        )
        self.agent_name, self.live = header.name, header.live

    @rx.event
    def set_draft(self, text: str) -> None:
        self.draft = text

    @rx.event
    def new_conversation(self) -> None:
        self.messages, self.conversation_id = [], ""

    @rx.event(background=True)
    async def send(self):  # noqa: ANN201 (Reflex event generator)
        async with self:
            if self.answering or not self.draft.strip():
                return
            message, self.draft, self.answering = self.draft.strip(), "", True
            self.messages = [
                *self.messages,
                {"role": "user", "content": message, "citations": []},
                {"role": "assistant", "content": "", "citations": []},
            ]
            token, address = self.session_token, self.router.session.client_ip
            agent_id, conversation = self.agent_id, self.conversation_id
        request = agent_runs.RunRequest(query=message, conversation_id=conversation or None, channel="web")
        view = RunView()
        try:
            async for event in follow_run(token, address, agent_id, request):
                ended = view.apply(event)
                async with self:
                    last = {"role": "assistant", "content": view.answer, "citations": []}
                    if ended:
                        text = ended["answer"] or ended["error"]
                        last = {"role": "assistant", "content": text, "citations": ended["citations"]}
                    self.messages = [*self.messages[:-1], last]
                    self.conversation_id = view.conversation_id or self.conversation_id
        except Exception as error:  # not published, no right ...: the reason as a toast
            async with self:
                self.answering, self.messages = False, self.messages[:-1]
            yield error_toast(error)
            return
        async with self:
            self.answering = False
