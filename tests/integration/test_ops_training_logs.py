"""A real (tiny) training job's log lines reach the log index through the controller's log
shipping and are found by a search, with the job's events beside them."""

import time

import pytest

from backend.models import TrainingJob
from backend.services.ops import logs as ops_logs
from tests.integration.test_training_flow import _submit, lab  # noqa: F401 (lab is a fixture)

pytestmark = pytest.mark.integration


def test_a_training_jobs_log_is_searchable(runtime, lab):  # noqa: F811
    dev, base_id, data_id = lab
    job_id = _submit(runtime, dev, base_id, data_id, max_steps=4, logging_steps=1)
    deadline = time.monotonic() + 300
    while True:
        runtime.reconcile_training()
        runtime.ship_logs()
        with runtime.session() as session:
            job = session.get(TrainingJob, job_id)
        if job.status not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, f"job stuck in {job.status}: {job.reason}"
        time.sleep(0.3)
    assert job.status == "succeeded", job.reason
    runtime.ship_logs()  # what the worker wrote after the last pass
    with runtime.session() as session:
        finished = ops_logs.search_logs(session, runtime.logs, dev, "training finished", source_id=job_id)
        steps = ops_logs.search_logs(session, runtime.logs, dev, "step loss", sources=("job",))
        events = ops_logs.search_logs(session, runtime.logs, dev, "job succeeded")
    assert len(finished) == 1 and finished[0].level == "INFO" and finished[0].source == "job"
    assert "medai.train: training finished" in finished[0].message
    assert any("step 4/4" in x.message for x in steps)
    assert [x.source_id for x in events] == [job_id]
    assert runtime.logs.open_cursors() == []  # the attempt ended: its log is no longer followed
