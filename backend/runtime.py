"""The composition root: the one place that turns settings into live adapters.

A process builds one Runtime (``get_runtime``); tests build their own from a Settings
object. Services never reach for globals: they get a Session and adapters from here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import Engine
from sqlmodel import Session

from backend import db
from backend.adapters.cache import Cache, build_cache
from backend.adapters.compute import Compute, build_compute
from backend.adapters.embeddings import BUILTIN, E5Embedder, LocalEmbedder
from backend.adapters.envelope import KeyRing, load_key_ring
from backend.adapters.logs import LogIndex, build_log_index
from backend.adapters.metrics import MetricsStore, build_metrics_store
from backend.adapters.notify import Notifier, build_notifier
from backend.adapters.objectstore import ObjectStore, build_object_store
from backend.adapters.packaged_models import PackageMissingError
from backend.adapters.replicas import ReplicaClients
from backend.adapters.rerank import build_reranker
from backend.adapters.vectors import build_vector_store
from backend.services import pipelines
from backend.services.identity import key_cache
from backend.services.identity import users as identity
from backend.services.identity.ratelimit import Limit
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import offsets as knowledge_offsets
from backend.services.knowledge import reembed as knowledge_reembed
from backend.services.knowledge import vocabulary as knowledge_vocabulary
from backend.services.knowledge.index import KnowledgeIndex
from backend.services.ops import alerts
from backend.services.ops import logs as ops_logs
from backend.services.ops import metrics as ops_metrics
from backend.services.orchestration.controller import Controller
from backend.services.serving import deployments as serving
from backend.services.serving import starter_model
from backend.services.serving.metering import UsageWriter
from backend.services.serving.proxy import RouteCache
from backend.services.space import runtime as workbench_runtime
from backend.services.training import jobs as training
from backend.settings import Settings, get_settings

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    cache: Cache
    controller: Controller
    keys: KeyRing
    objects: ObjectStore
    metrics: MetricsStore
    compute: Compute
    embedder: LocalEmbedder
    knowledge: KnowledgeIndex  # knowledge bases: vectors (Chroma), embedding cache, BM25 indexes
    logs: LogIndex  # operations: the job, service and platform log index
    notifier: Notifier  # operations: alert e-mail and webhooks
    replicas: ReplicaClients = field(default_factory=ReplicaClients, repr=False)  # the gateway's pools to replicas
    route_cache: RouteCache = field(default_factory=RouteCache, repr=False)  # the gateway's routes, 1 s
    usage: UsageWriter = field(init=False, repr=False)  # the gateway's usage rows, written in batches

    def __post_init__(self) -> None:
        self.usage = UsageWriter(self.session, self.cache)

    starter_preparing: bool = field(default=False, repr=False)  # converting/registering the starter model now
    collectors: ops_metrics.CollectorState = field(default_factory=ops_metrics.CollectorState, repr=False)
    platform_logs: ops_logs.PlatformLogs = field(default_factory=ops_logs.PlatformLogs, repr=False)

    @property
    def login_limit(self) -> Limit:
        return Limit("login", self.settings.login_rate_limit, 60)

    @property
    def api_limit(self) -> Limit:
        return Limit("api", self.settings.api_rate_limit, 60)

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.settings.session_hours)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with db.session_scope(self.engine) as session:
            yield session
        if key_cache.changed(session):  # committed: API keys resolved before are stale everywhere
            key_cache.forget_all(self.cache)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """While the app server runs: refuse an unmigrated database, make the first platform
        admin on an empty one, and run the controller loop."""
        db.ensure_migrated(self.engine)
        await asyncio.to_thread(self.bootstrap_admin)  # argon2 hashing stays off the event loop
        self.platform_logs.attach()
        if self.settings.starter_model == "on":  # converting takes a while the first time: not awaited
            threading.Thread(target=self.prepare_starter, name="medai-starter-model", daemon=True).start()
        task = asyncio.create_task(self.controller.run(), name="medai-controller")
        try:
            yield
        finally:
            self.controller.stop()
            await task
            self.platform_logs.detach()
            self.usage.flush()
            await self.replicas.aclose()

    def reconcile_training(self) -> None:
        with self.session() as session:
            training.reconcile(session, self.compute, self.objects, str(self.settings.data_dir))

    def reconcile_pipelines(self) -> None:
        with self.session() as session:
            pipelines.reconcile(session)

    def collect_metrics(self) -> None:
        with self.session() as session:
            settings = self.settings
            ops_metrics.collect(
                session,
                self.metrics,
                self.collectors,
                str(settings.data_dir),
                settings.metrics_retention_days,
                dcgm_urls=[u.strip() for u in settings.dcgm_exporter_urls.split(",") if u.strip()],
                node_urls=[u.strip() for u in settings.node_exporter_urls.split(",") if u.strip()],
            )

    def ship_logs(self) -> None:
        with self.session() as session:
            ops_logs.ship(session, self.compute, self.logs, self.platform_logs)
        ops_logs.expire(self.logs, self.settings.log_retention_days)

    def evaluate_alerts(self) -> None:
        with self.session() as session:
            alerts.evaluate(session, self.metrics, self.notifier)

    def ingest_knowledge(self) -> None:
        knowledge_documents.start_ingestion(self.session, self.knowledge, self.objects)  # in its own thread
        knowledge_reembed.start_reembedding(self.session, self.knowledge)  # in another
        knowledge_vocabulary.start_text_reindexing(self.session, self.knowledge)  # a vocabulary change, in a third
        knowledge_offsets.start_filling_offsets(self.session, self.knowledge, self.objects)  # old chunks' offsets

    def reconcile_serving(self) -> None:
        with self.session() as session:
            serving.reconcile(session, self.compute)

    def reconcile_workbenches(self) -> None:
        with self.session() as session:
            workbench_runtime.reconcile(session, self.compute, self.keys, self.settings)

    def prepare_starter(self) -> None:
        """Convert (once), register and serve the starter chat model; a failure is logged with its
        remedy and leaves the platform running without it."""
        self.starter_preparing = True  # pages say "starting" meanwhile, not "no model"
        try:
            starter_model.prepare(self.session, self.objects, self.settings.model_cache_dir)
        except PackageMissingError as missing:
            logger.warning("starter model skipped: %s (or set MEDAI_STARTER_MODEL=off)", missing)
        except Exception:
            logger.exception("starter model could not be prepared; the platform runs without it")
        finally:
            self.starter_preparing = False

    def bootstrap_admin(self) -> None:
        """On an empty database, create the platform admin; a generated password is shown once."""
        settings = self.settings
        with self.session() as session:
            one_time = identity.bootstrap_platform_admin(
                session, settings.admin_email, settings.admin_password.get_secret_value() or None
            )
        if one_time:  # printed, never logged: the console is the one place it appears
            print(
                f"\n  First run: platform admin {settings.admin_email} created.\n"
                f"  One-time password: {one_time}\n  Sign in and change it; it will not be shown again.\n",
                flush=True,
            )


def build_runtime(settings: Settings) -> Runtime:
    # Domain reconcilers register on runtime.controller here (deployments, workbenches and
    # alerts join training as their issues land).
    keys = load_key_ring(settings)
    cache = build_cache(settings)
    embedder = LocalEmbedder(None, BUILTIN)  # the built-in MiniLM, loaded on first use
    runtime = Runtime(
        settings=settings,
        engine=db.create_db_engine(settings.database_url),
        cache=cache,
        controller=Controller(interval_s=settings.controller_interval_s),
        keys=keys,
        objects=build_object_store(settings, keys),
        metrics=build_metrics_store(settings),
        logs=build_log_index(settings),
        notifier=build_notifier(settings),
        compute=build_compute(settings),
        embedder=embedder,
        knowledge=KnowledgeIndex(
            build_vector_store(settings),
            cache,
            embedder,
            settings.model_import_roots,
            remote_url=settings.embeddings_url,
            remote_key=settings.embeddings_api_key.get_secret_value(),
            e5=E5Embedder(),  # the built-in multilingual-e5-small (the default), loaded on first use
            reranker=build_reranker(settings),  # None unless MEDAI_RERANK_URL is set
        ),
    )
    runtime.controller.register("training", runtime.reconcile_training)
    runtime.controller.register("pipelines", runtime.reconcile_pipelines)
    runtime.controller.register("serving", runtime.reconcile_serving)
    runtime.controller.register("workbenches", runtime.reconcile_workbenches)
    runtime.controller.register("knowledge", runtime.ingest_knowledge)
    runtime.controller.register("ops.metrics", runtime.collect_metrics)
    runtime.controller.register("ops.logs", runtime.ship_logs)
    runtime.controller.register("ops.alerts", runtime.evaluate_alerts)
    return runtime


def configure_logging(settings: Settings) -> None:
    """Platform loggers (``backend``, ``medai``) at MEDAI_LOG_LEVEL, with time and place."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("backend", "medai"):
        logger = logging.getLogger(name)
        logger.setLevel(settings.log_level.upper())
        if not logger.handlers:
            logger.addHandler(handler)
        logger.propagate = False


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """This process's runtime, built on first use from the environment's settings."""
    return build_runtime(get_settings())
