"""The builder's Logs tab: the agent's runs (draft test runs, API, OpenAI clients, web chat) with
their question, answer, status, latency and tokens; thumbs up/down and an annotation per run."""

from __future__ import annotations

import reflex as rx

from backend.services.agents import runs as agent_runs
from backend.services.agents import views as agent_views
from state.agent_builder import AgentBuilderState
from state.feedback import success_toast
from state.format import when

RUN_LIMIT = 50


def run_row(run: agent_views.RunLogRow) -> dict[str, str]:
    return {
        "id": run.id,
        "when": when(run.created_at),
        "conversation": run.conversation_id,
        "status": run.status,
        "question": run.query[:300],
        "answer": run.answer[:600],
        "error": run.error,
        "latency": f"{run.latency_ms:.0f} ms",
        "tokens": str(run.tokens),
        "by": run.started_by,
        "rating": str(run.rating),
        "annotation": run.annotation,
    }


class AgentLogsState(AgentBuilderState):
    runs: list[dict[str, str]] = []
    notes: dict[str, str] = {}

    @rx.event
    async def load_logs(self) -> None:
        agent_id = self.agent_id
        if not agent_id:
            return
        found = await self._as_user(
            lambda _rt, session, principal: agent_views.run_log(session, principal, agent_id, RUN_LIMIT)
        )
        self.runs = [run_row(r) for r in found]
        self.notes = {r["id"]: r["annotation"] for r in self.runs}

    @rx.event
    def set_note(self, run_id: str, text: str) -> None:
        self.notes = {**self.notes, run_id: text}

    @rx.event
    async def rate(self, run_id: str, rating: int):  # noqa: ANN201 (Reflex event generator)
        note = self.notes.get(run_id, "")
        await self._as_user(
            lambda _rt, session, principal: agent_runs.give_feedback(
                session, principal, run_id, rating=rating, annotation=note
            )
        )
        self.runs = [{**r, "rating": str(rating)} if r["id"] == run_id else r for r in self.runs]
        yield await success_toast(self, "agents.logs.thanks")

    @rx.event
    async def annotate(self, run_id: str):  # noqa: ANN201 (Reflex event generator)
        row = next((r for r in self.runs if r["id"] == run_id), {"rating": "0"})
        yield AgentLogsState.rate(run_id, int(row["rating"]))
