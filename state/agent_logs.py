"""The builder's Logs tab: the agent's runs (draft test runs, API, OpenAI clients, web chat) with
their question, answer, status, latency and tokens; thumbs up/down and an annotation per run."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from backend.services.agents import runs as agent_runs
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from state.agent_builder import AgentBuilderState
from state.feedback import success_toast

RUN_LIMIT = 50


def run_rows(session: Session, who: Principal, agent_id: str) -> list[dict[str, str]]:
    given = agent_runs.list_feedback(session, who, agent_id) if may(session, who, Area.AGENTS, Action.UPDATE) else []
    mine = {f.run_id: f for f in given if f.user_id == who.user_id}
    rows = []
    for run in agent_runs.list_runs(session, who, agent_id, limit=RUN_LIMIT):
        feedback = mine.get(run.id)
        rows.append(
            {
                "id": run.id,
                "when": run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "conversation": run.conversation_id or "",
                "status": run.status,
                "question": run.query[:300],
                "answer": run.answer[:600],
                "error": run.error,
                "latency": f"{run.latency_ms:.0f} ms",
                "tokens": str(run.prompt_tokens + run.completion_tokens),
                "by": run.started_by,
                "rating": str(feedback.rating if feedback else 0),
                "annotation": feedback.annotation if feedback else "",
            }
        )
    return rows


class AgentLogsState(AgentBuilderState):
    runs: list[dict[str, str]] = []
    notes: dict[str, str] = {}

    @rx.event
    async def load_logs(self) -> None:
        agent_id = self.agent_id
        if not agent_id:
            return
        self.runs = await self._as_user(lambda _rt, session, who: run_rows(session, who, agent_id))
        self.notes = {r["id"]: r["annotation"] for r in self.runs}

    @rx.event
    def set_note(self, run_id: str, text: str) -> None:
        self.notes = {**self.notes, run_id: text}

    @rx.event
    async def rate(self, run_id: str, rating: int):  # noqa: ANN201 (Reflex event generator)
        note = self.notes.get(run_id, "")
        await self._as_user(
            lambda _rt, session, who: agent_runs.give_feedback(session, who, run_id, rating=rating, annotation=note)
        )
        self.runs = [{**r, "rating": str(rating)} if r["id"] == run_id else r for r in self.runs]
        yield await success_toast(self, "agents.logs.thanks")

    @rx.event
    async def annotate(self, run_id: str):  # noqa: ANN201 (Reflex event generator)
        row = next((r for r in self.runs if r["id"] == run_id), {"rating": "0"})
        yield AgentLogsState.rate(run_id, int(row["rating"]))
