"""The Deploy list's sparklines: gateway requests per minute and their median latency, per service,
for the caller's tenant only; and the figure drawn from them."""

from datetime import timedelta

import pytest

from backend.errors import MedAIError
from backend.models import UsageRecord
from backend.models.base import utcnow
from backend.services.serving import gateway
from state.figures import traffic_figure
from tests.clock_minute import with_seconds_left
from tests.unit.identity_world import add_tenant, add_user, sign


def _usage(runtime, tenant_id, model, minutes_ago, latencies):
    at = utcnow() - timedelta(minutes=minutes_ago)
    with runtime.session() as session:
        for latency in latencies:
            session.add(
                UsageRecord(
                    at=at,
                    tenant_id=tenant_id,
                    user_id="u",
                    deployment_id="d",
                    model=model,
                    endpoint="chat/completions",
                    latency_ms=latency,
                )
            )


def test_requests_and_median_latency_per_minute_for_the_callers_tenant_only(runtime):
    ruijin, huashan = add_tenant(runtime, "ruijin"), add_tenant(runtime, "huashan")
    dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(ruijin, "developer")]))[1]
    with_seconds_left(5)  # written and charted in the same minute
    _usage(runtime, ruijin.id, "bp-chat", 0, [10, 30, 20])
    _usage(runtime, ruijin.id, "bp-chat", 2, [50])
    _usage(runtime, ruijin.id, "bp-chat", 45, [99])  # outside the window
    _usage(runtime, huashan.id, "aurora-chat", 0, [5])
    with runtime.session() as session:
        (found,) = gateway.traffic(session, dev, minutes=5)
        with pytest.raises(MedAIError, match="1 minute to 1 day"):
            gateway.traffic(session, dev, minutes=0)
    assert found.model == "bp-chat" and len(found.minutes) == 5
    assert found.requests == [0, 0, 1, 0, 3] and found.latency_p50_ms == [0.0, 0.0, 50.0, 0.0, 20.0]
    assert found.minutes[-1] - found.minutes[0] == timedelta(minutes=4)


def test_the_traffic_chart_stacks_requests_and_skips_latency_in_quiet_minutes():
    figure = traffic_figure(
        [("bp", ["10:00", "10:01", "10:02"], [2, 0, 1], [12.0, 0.0, 30.0]), ("idle", ["10:00"], [0], [0.0])]
    )
    bars, latency = figure["data"]  # a service without requests draws nothing
    assert bars["y"] == [2, 0, 1] and latency["y"] == [12.0, None, 30.0] and latency["yaxis"] == "y2"
    assert figure["layout"]["barmode"] == "stack"
    assert traffic_figure([("idle", ["10:00"], [0], [0.0])]) == {}
