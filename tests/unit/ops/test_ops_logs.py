"""The log index (SQLite FTS5) searched by words, time, source, level and tenant; the
controller's log shipping from worker log files, job events and the platform's own records."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from backend.adapters.compute.local import LocalCompute
from backend.adapters.logs import Cursor, LogLine, LogQuery
from backend.adapters.logs.sqlite import SqliteLogIndex
from backend.errors import MedAIError
from backend.services.identity.access import Principal
from backend.services.ops import logs as ops_logs

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def index(tmp_path):
    return SqliteLogIndex(tmp_path / "logs.db")


def _line(minutes, message, tenant="t1", source="job", source_id="j1", level="INFO"):
    return LogLine(T0 + timedelta(minutes=minutes), tenant, source, source_id, level, message)


def test_search_by_words_time_source_level_and_tenant(index):
    index.append(
        [
            _line(0, "loading tokenizer for tiny-llama"),
            _line(1, "step 4/8 loss 2.31", level="INFO"),
            _line(2, "CUDA out of memory while allocating the loss buffer", level="ERROR"),
            _line(3, "replica 0 ready", source="service", source_id="d1"),
            _line(4, "step 8/8 loss 1.02", tenant="t2"),
        ]
    )
    words = index.search(LogQuery("t1", text="loss"))
    assert [x.message for x in words] == ["CUDA out of memory while allocating the loss buffer", "step 4/8 loss 2.31"]
    assert [x.message for x in index.search(LogQuery("t1", text="memory loss"))] == [words[0].message]
    assert index.search(LogQuery("t1", text="loss", levels=("ERROR",)))[0].level == "ERROR"
    assert [x.source for x in index.search(LogQuery("t1", sources=("service",)))] == ["service"]
    in_window = index.search(LogQuery("t1", start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)))
    assert [x.at for x in in_window] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    assert all(x.tenant_id == "t1" for x in index.search(LogQuery("t1", limit=50)))
    assert index.search(LogQuery("t3", text="loss")) == []
    assert index.search(LogQuery("t1", text='loss" OR "ready')) == []  # no FTS operator slips through


def test_tail_returns_only_newer_lines_oldest_first(index):
    index.append([_line(0, "first"), _line(1, "second")])
    newest = index.search(LogQuery("t1", limit=1))[0]
    index.append([_line(2, "third"), _line(3, "fourth")])
    assert [x.message for x in index.search(LogQuery("t1", after_id=newest.id))] == ["third", "fourth"]


def test_cursor_is_saved_with_its_lines(index):
    cursor = Cursor("compute:x", "t1", "job", "j1", offset=120)
    index.append([_line(0, "a line")], cursor)
    assert index.cursor("compute:x").offset == 120 and [c.key for c in index.open_cursors()] == ["compute:x"]
    index.save_cursor(Cursor("compute:x", "t1", "job", "j1", offset=300, open=False))
    assert index.cursor("compute:x").offset == 300 and index.open_cursors() == []


def test_worker_lines_keep_level_and_time_and_continuations():
    cursor = Cursor("k", "t1", "job", "j1")
    text = (
        "2026-11-25 08:00:01,250 INFO medai.train: step 1/8 {'loss': 3.1}\n"
        "2026-11-25 08:00:02,000 ERROR medai.train: training failed: boom\n"
        "Traceback (most recent call last):\n"
        "\n"
        " 10%|#         | 1/10\r 20%|##        | 2/10\n"
    )
    lines = ops_logs.parse_worker_log(text, cursor, T0)
    assert [x.level for x in lines] == ["INFO", "ERROR", "ERROR", "ERROR"]
    assert lines[0].message == "medai.train: step 1/8 {'loss': 3.1}"
    assert lines[2].message == "Traceback (most recent call last):" and lines[2].at == lines[1].at
    assert lines[3].message == " 20%|##        | 2/10"  # the last state of a progress bar
    assert lines[0].at.astimezone(UTC).second == 1 and cursor.detail["level"] == "ERROR"


def test_ship_follows_a_worker_log_until_its_process_ends(runtime, tmp_path):
    compute = LocalCompute(tmp_path / "runs", tmp_path)
    folder = tmp_path / "runs" / "j1" / "attempt-1"
    folder.mkdir(parents=True)
    log = folder / "worker.log"
    log.write_text("2026-11-25 08:00:01,000 INFO medai.train: step 1/8 loss 3.1\npartial")
    ref = f"999999999:1:{folder}"  # no such process: it has ended
    runtime.logs.save_cursor(Cursor(f"compute:{ref}", "t1", "job", "j1", detail={"ref": ref}))
    with runtime.session() as session:
        ops_logs.ship(session, compute, runtime.logs)
    assert [x.message for x in runtime.logs.search(LogQuery("t1"))] == ["medai.train: step 1/8 loss 3.1"]
    with log.open("a") as handle:
        handle.write(" line finished\n2026-11-25 08:00:03,000 WARNING medai.train: slow step\n")
    with runtime.session() as session:
        ops_logs.ship(session, compute, runtime.logs)  # reads the rest: the process had ended
        ops_logs.ship(session, compute, runtime.logs)  # nothing more: the log is closed
    found = runtime.logs.search(LogQuery("t1", limit=10))
    assert [x.message for x in found] == ["medai.train: slow step", "partial line finished", found[-1].message]
    assert found[0].level == "WARNING" and runtime.logs.open_cursors() == []


def test_platform_records_reach_the_index_for_platform_admins_only(runtime):
    runtime.platform_logs.attach(("backend.ops_test",))
    try:
        logging.getLogger("backend.ops_test").warning("disk almost full on %s", "node-1")
    finally:
        runtime.platform_logs.detach(("backend.ops_test",))
    with runtime.session() as session:
        ops_logs.ship(session, runtime.compute, runtime.logs, runtime.platform_logs)
    admin = Principal("u0", "root@medai.local", is_platform_admin=True)
    with runtime.session() as session:
        found = ops_logs.search_logs(session, runtime.logs, admin, "disk full", sources=("platform",))
        assert [(x.level, x.source_id, x.message) for x in found] == [
            ("WARNING", "backend.ops_test", "disk almost full on node-1")
        ]
    member = Principal("u1", "dev@x.cn", tenant_id="t1", role="developer")
    with runtime.session() as session, pytest.raises(MedAIError, match="platform admin"):
        ops_logs.search_logs(session, runtime.logs, member, "disk", sources=("platform",))


def test_levels_at_or_above():
    assert ops_logs.levels_from("WARNING") == ("WARNING", "ERROR", "CRITICAL")
    assert ops_logs.levels_from("") == ()
    with pytest.raises(MedAIError):
        ops_logs.levels_from("LOUD")


def test_chinese_lines_are_found_by_their_words_without_spaces(index):
    index.append(
        [
            _line(0, "模型训练失败：显存不足，请减小批大小", level="ERROR"),
            _line(1, "高血压患者随访记录已脱敏"),
            _line(2, "训练完成，损失 1.02"),
        ]
    )
    assert [x.message for x in index.search(LogQuery("t1", text="训练失败"))] == [
        "模型训练失败：显存不足，请减小批大小"
    ]
    assert [x.message for x in index.search(LogQuery("t1", text="高血压"))] == ["高血压患者随访记录已脱敏"]
    assert len(index.search(LogQuery("t1", text="训练"))) == 2
    assert index.search(LogQuery("t1", text="训练 高血压")) == []  # every word must appear
    assert index.search(LogQuery("t1", text="损失"))[0].message == "训练完成，损失 1.02"  # shown as written
