"""The one-click actions of the pages' guided empty states: import a sample dataset (R&D, Assets),
create the sample knowledge base (Knowledge) or the medical Q&A agent from its template (Agents).
Each says in a toast what it made, then shows it: the page's list reloads, or the browser goes
to the new thing's own page. The samples themselves are backend.services.samples."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import reflex as rx

from backend.errors import MedAIError
from backend.services import samples
from state.assets import AssetsState
from state.auth import AuthState, Work
from state.feedback import error_toast, text
from state.preferences import PreferencesState
from state.training import TrainingState

DATASETS = ("sft", "preference")
KNOWLEDGE_BASE = "knowledge_base"
AGENT = "agent"
# the list to reload after a dataset sample is imported, by the page it was imported from
RELOAD_AFTER_DATASET = {"/training": TrainingState.load, "/assets": AssetsState.load}


@dataclass
class Offers:
    """Which sample datasets a page offers: those the tenant lacks, when the caller may import them."""

    sft: bool = False
    preference: bool = False


def offers(status: samples.SamplesStatus) -> Offers:
    def wanted(state: samples.SampleState) -> bool:
        return state.may_create and not state.exists

    return Offers(sft=wanted(status.sft_dataset), preference=wanted(status.preference_dataset))


def sample_offers() -> Work[Offers]:
    return lambda _rt, session, principal: offers(samples.samples_status(session, principal))


def dataset_work(which: str) -> Work[samples.SampleAsset]:
    return lambda rt, session, principal: samples.import_sample_dataset(
        session, principal, rt.objects, which, rt.settings.scratch_dir
    )


def knowledge_base_work() -> Work[samples.SampleAsset]:
    return lambda rt, session, principal: samples.create_sample_knowledge_base(
        session, principal, rt.knowledge, rt.objects
    )


def agent_work(language: str) -> Work[samples.SampleAsset]:
    return lambda _rt, session, principal: samples.create_agent_from_sample_template(
        session, principal, language=language
    )


def toast_key(asset: samples.SampleAsset) -> str:
    """The confirmation for what was made, or for the sample the tenant had already."""
    return f"samples.{asset.kind}_{'created' if asset.created else 'exists'}"


class SamplesState(AuthState):
    offer_sft: bool = False
    offer_preference: bool = False
    working: str = ""  # the sample being made: "sft", "preference", "knowledge_base" or "agent"

    @rx.var
    def offers_datasets(self) -> bool:
        return self.offer_sft or self.offer_preference

    @rx.event
    async def load(self) -> None:
        """Which sample datasets to offer. Called when an offer mounts, which may be before the page's
        own on_load has read who is signed in: the session decides, not the state's copy of it."""
        await self._refresh_offers()

    async def _refresh_offers(self) -> None:
        found = Offers()
        if self.session_token:
            try:
                found = await self._as_user(sample_offers())
            except MedAIError:  # signed out, or a role that sees no samples: nothing to offer
                found = Offers()
        self.offer_sft, self.offer_preference = found.sft, found.preference

    async def _done(self, asset: samples.SampleAsset) -> rx.event.EventSpec:
        message = (await text(self, toast_key(asset))).format(name=asset.name, rows=asset.rows, docs=asset.documents)
        return rx.toast.success(message, duration=6000, position="top-center")

    async def _make(
        self, which: str, work: Work[samples.SampleAsset]
    ) -> AsyncIterator[rx.event.EventSpec | samples.SampleAsset | None]:
        """Run one sample action with its button spinning; a toast either way; what was made last."""
        self.working = which
        yield
        try:
            asset = await self._as_user(work)
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.working = ""
            yield error_toast(error)
            return
        self.working = ""
        yield await self._done(asset)
        yield asset

    @rx.event
    async def import_dataset(self, which: str):  # noqa: ANN201 (Reflex event generator)
        if which not in DATASETS:
            return
        async for step in self._make(which, dataset_work(which)):
            if isinstance(step, samples.SampleAsset):
                await self._refresh_offers()
                reload = RELOAD_AFTER_DATASET.get(self.router.url.path.rstrip("/"))
                if reload is not None:
                    yield reload
            else:
                yield step

    @rx.event
    async def create_knowledge_base(self):  # noqa: ANN201 (Reflex event generator)
        async for step in self._make(KNOWLEDGE_BASE, knowledge_base_work()):
            yield rx.redirect(f"/knowledge/{step.id}") if isinstance(step, samples.SampleAsset) else step

    @rx.event
    async def create_agent(self):  # noqa: ANN201 (Reflex event generator)
        preferences = await self.get_state(PreferencesState)  # the agent is named in the user's language
        async for step in self._make(AGENT, agent_work(preferences.lang)):
            yield rx.redirect(f"/agents/{step.id}") if isinstance(step, samples.SampleAsset) else step
