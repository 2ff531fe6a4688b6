"""Time series in InfluxDB 2 through influxdb-client (production). Points go out as line
protocol with millisecond precision; queries are Flux, downsampled with aggregateWindow.

No InfluxDB 2 server exists on the development machines: the line protocol and the Flux
text are tested, the round trip against a live server is not (README says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client import Point as InfluxPoint
from influxdb_client.client.write_api import SYNCHRONOUS

from backend.adapters.metrics import Point, Series


def _flux_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def _flux_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line_protocol(points: Sequence[Point]) -> list[str]:
    lines = []
    for point in points:
        record = InfluxPoint(point.measurement).time(int(point.at.timestamp() * 1000), WritePrecision.MS)
        for key, value in sorted(point.tags.items()):
            record = record.tag(key, value)
        for key, value in point.fields.items():
            record = record.field(key, float(value))
        lines.append(record.to_line_protocol())
    return lines


def flux_query(
    bucket: str,
    measurement: str,
    tags: dict[str, str],
    start: datetime,
    end: datetime | None = None,
    fields: Sequence[str] = (),
    every: timedelta | None = None,
) -> str:
    stop = f", stop: {_flux_time(end)}" if end is not None else ""
    parts = [
        f"from(bucket: {_flux_string(bucket)})",
        f"  |> range(start: {_flux_time(start)}{stop})",
        f"  |> filter(fn: (r) => r._measurement == {_flux_string(measurement)})",
    ]
    parts += [f"  |> filter(fn: (r) => r[{_flux_string(k)}] == {_flux_string(v)})" for k, v in sorted(tags.items())]
    if fields:
        wanted = " or ".join(f"r._field == {_flux_string(f)}" for f in fields)
        parts.append(f"  |> filter(fn: (r) => {wanted})")
    if every is not None:
        parts.append(
            f"  |> aggregateWindow(every: {max(1, int(every.total_seconds() * 1000))}ms, fn: mean, createEmpty: false)"
        )
    return "\n".join(parts)


class InfluxMetricsStore:
    backend = "influxdb"

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout_ms: int = 5000) -> None:
        self.bucket, self.org = bucket, org
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)

    def write(self, points: Sequence[Point]) -> None:
        with self._client.write_api(write_options=SYNCHRONOUS) as writer:
            writer.write(
                bucket=self.bucket, org=self.org, record=line_protocol(points), write_precision=WritePrecision.MS
            )

    def query(
        self,
        measurement: str,
        tags: dict[str, str],
        start: datetime,
        end: datetime | None = None,
        fields: Sequence[str] = (),
        every: timedelta | None = None,
    ) -> list[Series]:
        flux = flux_query(self.bucket, measurement, tags, start, end, fields, every)
        found: dict[tuple, Series] = {}
        for table in self._client.query_api().query(flux, org=self.org):
            for record in table.records:
                series_tags = {
                    k: str(v)
                    for k, v in record.values.items()
                    if not k.startswith("_") and k not in ("result", "table")
                }
                key = (record.get_field(), tuple(sorted(series_tags.items())))
                series = found.setdefault(key, Series(record.get_field(), series_tags))
                series.times.append(record.get_time())
                series.values.append(float(record.get_value()))
        return list(found.values())

    def delete_before(self, cutoff: datetime) -> None:
        self._client.delete_api().delete(
            start=datetime(1970, 1, 1, tzinfo=UTC), stop=cutoff, predicate="", bucket=self.bucket, org=self.org
        )

    def ping(self) -> None:
        if not self._client.ping():
            raise ConnectionError("InfluxDB did not answer its /ping")
