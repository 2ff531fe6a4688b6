"""Time series (training curves, GPU telemetry, gateway latency): a SQLite table on local
disk (embedded default) or InfluxDB 2 (production). Both answer the same queries, with
optional downsampling to a mean per time bucket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from backend.settings import Settings


@dataclass(frozen=True)
class Point:
    measurement: str  # e.g. "train", "gpu", "gateway"
    tags: dict[str, str]  # what the series is about: job_id, tenant_id, gpu, node …
    fields: dict[str, float]  # the numbers: loss, learning_rate, util …
    at: datetime


@dataclass
class Series:
    """One field of one tagged series over time."""

    field: str
    tags: dict[str, str]
    times: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


class MetricsStore(Protocol):
    backend: str

    def write(self, points: Sequence[Point]) -> None: ...

    def query(
        self,
        measurement: str,
        tags: dict[str, str],
        start: datetime,
        end: datetime | None = None,
        fields: Sequence[str] = (),
        every: timedelta | None = None,
    ) -> list[Series]:
        """Series whose tags include ``tags``, between start and end; with ``every``, the mean per bucket."""
        ...

    def delete_before(self, cutoff: datetime) -> None:
        """Retention: drop every point older than ``cutoff``."""
        ...

    def ping(self) -> None: ...


def build_metrics_store(settings: Settings) -> MetricsStore:
    if settings.metrics_backend == "influxdb":
        from backend.adapters.metrics.influx import InfluxMetricsStore

        return InfluxMetricsStore(
            settings.influx_url, settings.influx_token.get_secret_value(), settings.influx_org, settings.influx_bucket
        )
    from backend.adapters.metrics.sqlite import SqliteMetricsStore

    assert settings.metrics_db is not None
    return SqliteMetricsStore(settings.metrics_db)
