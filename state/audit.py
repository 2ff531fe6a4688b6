"""The audit tab of the admin page: filtered, paged events and the CSV export link."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.identity import permissions, views
from backend.services.identity.audit_log import AuditFilter
from backend.services.identity.views import AuditRow
from state.auth import AuthState
from state.format import when

Action = permissions.Action  # for pages.admin_audit's permission matrix (pages do not import the backend)
matrix_rows = permissions.matrix_rows
PAGE_SIZE = 25
OUTCOMES = ("ok", "denied", "failed")
CSV_ROUTE = "/api/audit.csv"


def _day(text: str, after: bool = False) -> datetime | None:
    """The start of a YYYY-MM-DD day in UTC (``after``: of the next day, for an inclusive 'until')."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{text}' is not a date.", "Use the date picker.") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + (timedelta(days=1) if after else timedelta())


def _event_row(e: AuditRow, tenant_names: dict[str, str]) -> dict[str, str]:
    return {
        "id": str(e.id),
        "at": when(e.at),
        "actor": e.actor_label,
        "tenant": tenant_names.get(e.tenant_id or "", e.tenant_id or ""),
        "action": e.action,
        "target": f"{e.target_type} {e.target_id}".strip(),
        "outcome": e.outcome,
        "address": e.client_address,
    }


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


class AuditState(AuthState):
    action: str = ""
    actor: str = ""
    outcome: str = "all"
    since: str = ""  # YYYY-MM-DD, inclusive
    until: str = ""  # YYYY-MM-DD, inclusive
    offset: int = 0
    total: int = 0
    events: list[dict[str, str]] = []

    @rx.var
    def csv_url(self) -> str:
        """The same filters for GET /api/audit.csv, which reads the session cookie."""
        params = {
            "action": self.action,
            "actor": self.actor,
            "outcome": "" if self.outcome == "all" else self.outcome,
            "since": _iso(_day(self.since)) if self.since else "",
            "until": _iso(_day(self.until, after=True)) if self.until else "",
        }
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{CSV_ROUTE}?{query}" if query else CSV_ROUTE

    @rx.var
    def page_label(self) -> str:
        if self.total == 0:
            return "0"
        return f"{self.offset + 1}-{min(self.offset + PAGE_SIZE, self.total)} / {self.total}"

    @rx.var
    def has_previous(self) -> bool:
        return self.offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.offset + PAGE_SIZE < self.total

    def _filter(self) -> AuditFilter:
        return AuditFilter(
            action=self.action.strip(),
            actor=self.actor.strip(),
            outcome="" if self.outcome == "all" else self.outcome,
            since=_day(self.since),
            until=_day(self.until, after=True),
        )

    async def _search(self) -> None:
        wanted, offset, names = self._filter(), self.offset, {t["id"]: t["name"] for t in self.tenants}

        found = await self._as_user(
            lambda _rt, session, principal: views.audit_page(session, principal, wanted, PAGE_SIZE, offset)
        )
        if found is None:  # the tab is not shown to those who may not read the trail
            self.events, self.total = [], 0
        else:
            self.events, self.total = [_event_row(e, names) for e in found.rows], found.total

    @rx.event
    async def load(self) -> None:
        self.offset = 0
        if self.signed_in and not self.must_change_password:
            await self._search()

    @rx.event
    async def apply(self, form: dict[str, Any]) -> None:
        since, until = str(form.get("since", "")), str(form.get("until", ""))
        _day(since), _day(until)  # a wrong date is refused before anything changes
        self.action, self.actor, self.since, self.until = (
            str(form.get("action", "")),
            str(form.get("actor", "")),
            since,
            until,
        )
        self.offset = 0
        await self._search()

    @rx.event
    async def set_outcome(self, outcome: str | list[str]) -> None:
        chosen = outcome if isinstance(outcome, str) else outcome[0]
        self.outcome = chosen if chosen in OUTCOMES else "all"
        self.offset = 0
        await self._search()

    @rx.event
    async def clear(self) -> list[rx.event.EventSpec]:
        self.action = self.actor = self.since = self.until = ""
        self.outcome, self.offset = "all", 0
        await self._search()
        return [rx.set_value(field, "") for field in ("audit-action", "audit-actor", "audit-since", "audit-until")]

    @rx.event
    async def next_page(self) -> None:
        if self.offset + PAGE_SIZE < self.total:
            self.offset += PAGE_SIZE
            await self._search()

    @rx.event
    async def previous_page(self) -> None:
        self.offset = max(0, self.offset - PAGE_SIZE)
        await self._search()
