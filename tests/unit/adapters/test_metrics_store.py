"""The embedded time-series store for real, and the InfluxDB adapter's line protocol and
Flux text (no InfluxDB 2 server exists on these machines)."""

from datetime import UTC, datetime, timedelta

import pytest

from backend.adapters.metrics import Point, build_metrics_store
from backend.adapters.metrics.influx import flux_query, line_protocol
from backend.adapters.metrics.sqlite import SqliteMetricsStore

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> SqliteMetricsStore:
    return SqliteMetricsStore(tmp_path / "metrics.db")


def _curve(job: str, n: int = 10) -> list[Point]:
    return [
        Point(
            "train",
            {"job_id": job, "tenant_id": "t1"},
            {"loss": 2.0 - i * 0.1, "learning_rate": 5e-5},
            T0 + timedelta(seconds=i),
        )
        for i in range(n)
    ]


def test_series_come_back_by_tags_fields_and_time(store):
    store.write(_curve("a") + _curve("b"))
    series = store.query("train", {"job_id": "a"}, T0, fields=["loss"])
    assert len(series) == 1 and series[0].tags == {"job_id": "a", "tenant_id": "t1"}
    assert series[0].values == pytest.approx([2.0 - i * 0.1 for i in range(10)])
    assert series[0].times[0] == T0
    window = store.query("train", {"job_id": "a"}, T0 + timedelta(seconds=2), T0 + timedelta(seconds=4), ["loss"])
    assert window[0].values == pytest.approx([1.8, 1.7])
    assert {s.field for s in store.query("train", {"tenant_id": "t1"}, T0)} == {"loss", "learning_rate"}
    assert store.query("train", {"job_id": "zzz"}, T0) == []


def test_downsampling_averages_each_bucket(store):
    store.write(_curve("a"))
    (loss,) = store.query("train", {"job_id": "a"}, T0, fields=["loss"], every=timedelta(seconds=5))
    assert loss.values == pytest.approx([1.8, 1.3]) and loss.times == [T0, T0 + timedelta(seconds=5)]


def test_retention_drops_old_points(store):
    store.write(_curve("a"))
    store.delete_before(T0 + timedelta(seconds=8))
    (loss,) = store.query("train", {"job_id": "a"}, T0, fields=["loss"])
    assert len(loss.values) == 2


def test_the_store_is_shared_by_threads_and_readers(store, tmp_path):
    import threading

    threads = [threading.Thread(target=store.write, args=(_curve(f"j{i}", 50),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other = SqliteMetricsStore(tmp_path / "metrics.db")  # another process's view of the same file
    assert sum(len(s.values) for s in other.query("train", {}, T0, fields=["loss"])) == 200


def test_influx_line_protocol_and_flux():
    point = Point("train", {"job_id": "a b", "tenant_id": "t1"}, {"loss": 1.5}, T0)
    assert line_protocol([point]) == [f"train,job_id=a\\ b,tenant_id=t1 loss=1.5 {int(T0.timestamp() * 1000)}"]
    flux = flux_query("medai", "train", {"job_id": 'x"y'}, T0, T0 + timedelta(hours=1), ["loss"], timedelta(seconds=10))
    assert 'from(bucket: "medai")' in flux
    assert "range(start: 2026-11-25T08:00:00.000000Z, stop: 2026-11-25T09:00:00.000000Z)" in flux
    assert 'r["job_id"] == "x\\"y"' in flux and 'r._field == "loss"' in flux
    assert "aggregateWindow(every: 10000ms, fn: mean" in flux


def test_settings_pick_the_store(settings):
    assert build_metrics_store(settings).backend == "sqlite"
    influx = settings.model_copy(update={"influx_url": "http://127.0.0.1:9"})
    assert build_metrics_store(influx).backend == "influxdb"
