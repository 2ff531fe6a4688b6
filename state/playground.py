"""The Playground: chat with one of the tenant's ready services through the platform's own
gateway (/v1/chat/completions, so keys, limits, routing and metering apply as for any client),
the answer streamed token by token, with the tokens used and the latency after each answer.
Stop ends the answer where it is: the request is closed, and the engine stops generating."""

from __future__ import annotations

import contextlib
import time

import reflex as rx

from backend.services.serving import playground
from backend.services.serving.starter_model import SERVICE_NAME as STARTER
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast

ROUTE = "/playground"
STARTER_POLL_S = 3.0  # while the starter model is being prepared, the page looks again this often


Choices = playground.Choices  # what the service picker offers


def pick_service(services: list[str], current: str, wanted: str = "") -> str:
    """The service to chat with: the one asked for in the address, the one already chosen, the
    tenant's own first, else the platform's starter model."""
    for choice in (wanted, current):
        if choice and choice in services:
            return choice
    own = [s for s in services if s != STARTER]
    return own[0] if own else (STARTER if STARTER in services else "")


class PlaygroundState(AuthState):
    services: list[str] = []
    service: str = ""
    starter_status: str = ""  # pending/starting while the starter model is prepared; else ""
    system_prompt: str = "You are a careful medical assistant. 你是一名严谨的医疗助手。"
    messages: list[dict[str, str]] = []
    draft: str = ""
    temperature: float = 0.7
    max_tokens: str = "128"
    streaming: bool = False
    stop_requested: bool = False
    stats: dict[str, str] = {}
    _follow_round: int = 0

    @rx.var
    def starter_starting(self) -> bool:
        return self.starter_status != ""

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.services, self.starter_status = [], ""
            return
        self._show_choices(await self._choices(), self.router.url.query_parameters.get("service", ""))
        if self.starter_starting:
            yield PlaygroundState.follow_starter

    async def _choices(self) -> Choices:
        return await self._as_user(
            lambda rt, session, principal: playground.service_choices(session, principal, rt.starter_preparing)
        )

    def _show_choices(self, found: Choices, wanted: str = "") -> None:
        self.services, self.starter_status = found.services, found.starter_status
        self.service = pick_service(self.services, self.service, wanted)

    @rx.event(background=True)
    async def follow_starter(self) -> None:
        """While the starter model is being prepared and this page is open, look again until it is
        ready, so it becomes selectable without a reload."""
        await live.follow(
            self,
            self._choices,
            self._show_choices,
            lambda: self.starter_starting and live.on_page(self, ROUTE),
            every_s=STARTER_POLL_S,
        )

    @rx.event
    def set_service(self, name: str) -> None:
        self.service = name

    @rx.event
    def set_system_prompt(self, text: str) -> None:
        self.system_prompt = text

    @rx.event
    def set_draft(self, text: str) -> None:
        self.draft = text

    @rx.event
    def set_temperature(self, value: list[float] | float) -> None:
        chosen = value[0] if isinstance(value, list) else value
        self.temperature = round(min(max(float(chosen), 0.0), 2.0), 2)

    @rx.event
    def set_max_tokens(self, value: str) -> None:
        self.max_tokens = value

    @rx.event
    def clear(self) -> None:
        self.messages, self.stats = [], {}

    @rx.event
    async def send(self):  # noqa: ANN201 (Reflex event generator)
        if self.streaming:
            return
        if not self.service or not self.draft.strip():
            yield await input_toast(self, "playground.incomplete")
            return
        try:
            limit = int(self.max_tokens.strip())
        except ValueError:
            yield await input_toast(self, "playground.max_tokens_invalid")
            return
        self.messages = [*self.messages, {"role": "user", "content": self.draft.strip()}]
        self.draft, self.streaming, self.stop_requested, self.stats = "", True, False, {}
        yield PlaygroundState.answer(limit)

    @rx.event
    def stop(self) -> None:
        """Ends the answer being streamed at its next piece."""
        if self.streaming:
            self.stop_requested = True

    @rx.event(background=True)
    async def answer(self, max_tokens: int) -> None:
        """Stream the answer into the last chat message as it arrives."""
        async with self:
            history = [{"role": "system", "content": self.system_prompt}] if self.system_prompt.strip() else []
            history += [{"role": m["role"], "content": m["content"]} for m in self.messages]
            body = {"model": self.service, "messages": history, "temperature": self.temperature}
            body["max_tokens"] = max_tokens
            token = self.session_token
            self.messages = [*self.messages, {"role": "assistant", "content": ""}]
        started, first, usage, text, stopped = time.monotonic(), 0.0, None, "", False
        try:  # closing the stream on Stop hangs up on the gateway, which ends the replica's request
            async with contextlib.aclosing(playground.chat(token, body)) as chunks:
                async for chunk in chunks:
                    if chunk.usage:
                        usage = chunk.usage
                    if chunk.delta:
                        first = first or time.monotonic()
                        text += chunk.delta
                        async with self:
                            self.messages[-1] = {"role": "assistant", "content": text}
                            stopped = self.stop_requested
                        if stopped:
                            break
        except Exception as error:  # the chat stays usable; the reason is shown as a toast
            async with self:
                self.streaming = False
                if not text:
                    self.messages = self.messages[:-1]
            yield error_toast(error)
            return
        total = time.monotonic() - started
        async with self:
            self.streaming, self.stop_requested = False, False
            self.stats = {
                "stopped": "yes" if stopped else "",
                "prompt_tokens": str((usage or {}).get("prompt_tokens", "—")),
                "completion_tokens": str((usage or {}).get("completion_tokens", "—")),
                "first_token_ms": f"{(first - started) * 1000:.0f}" if first else "—",
                "total_ms": f"{total * 1000:.0f}",
            }
