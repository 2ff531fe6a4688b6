"""The composition root: the one place that turns settings into live adapters.

A process builds one Runtime (``get_runtime``); tests build their own from a Settings
object. Services never reach for globals: they get a Session and adapters from here.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from backend import db
from backend.adapters.cache import Cache, build_cache
from backend.adapters.compute import Compute, build_compute
from backend.adapters.embeddings import BUILTIN, LocalEmbedder, builtin_model_path
from backend.adapters.envelope import KeyRing, load_key_ring
from backend.adapters.metrics import MetricsStore, build_metrics_store
from backend.adapters.objectstore import ObjectStore, build_object_store
from backend.services import identity, pipelines, serving, training
from backend.services.controller import Controller
from backend.services.ratelimit import Limit
from backend.settings import Settings, get_settings


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
    _upstream: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)
    route_cache: dict[tuple, tuple[float, Any]] = field(default_factory=dict, repr=False)  # the gateway's, 1 s
    background_tasks: set[Any] = field(default_factory=set, repr=False)  # kept alive until they finish

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

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """While the app server runs: refuse an unmigrated database, make the first platform
        admin on an empty one, and run the controller loop."""
        db.ensure_migrated(self.engine)
        await asyncio.to_thread(self.bootstrap_admin)  # argon2 hashing stays off the event loop
        task = asyncio.create_task(self.controller.run(), name="medai-controller")
        try:
            yield
        finally:
            self.controller.stop()
            await task

    def upstream_client(self) -> httpx.AsyncClient:
        """The gateway's connection pool to model replicas, one per event loop (kept alive between requests)."""
        loop = asyncio.get_running_loop()
        client = self._upstream.get(loop)
        if client is None:
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=128)
            client = self._upstream[loop] = httpx.AsyncClient(limits=limits)
        return client

    def reconcile_training(self) -> None:
        with self.session() as session:
            training.reconcile(session, self.compute, self.objects, str(self.settings.data_dir))

    def reconcile_pipelines(self) -> None:
        with self.session() as session:
            pipelines.reconcile(session)

    def reconcile_serving(self) -> None:
        with self.session() as session:
            serving.reconcile(session, self.compute)

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
    runtime = Runtime(
        settings=settings,
        engine=db.create_db_engine(settings.database_url),
        cache=build_cache(settings),
        controller=Controller(interval_s=settings.controller_interval_s),
        keys=keys,
        objects=build_object_store(settings, keys),
        metrics=build_metrics_store(settings),
        compute=build_compute(settings),
        embedder=LocalEmbedder(builtin_model_path(), BUILTIN),  # loaded on first use
    )
    runtime.controller.register("training", runtime.reconcile_training)
    runtime.controller.register("pipelines", runtime.reconcile_pipelines)
    runtime.controller.register("serving", runtime.reconcile_serving)
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
