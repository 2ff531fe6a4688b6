"""The MySQL FULLTEXT log index against the real MariaDB on 127.0.0.1:3306, in a database of
its own (as README advises), made and dropped by the test."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from backend.adapters.logs import Cursor, LogLine, LogQuery
from backend.adapters.logs.mysql import MysqlLogIndex

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
DATABASE = "medai_logs_test"


@pytest.fixture
def index(mariadb_url):
    server = mariadb_url.rsplit("/", 1)[0]
    admin = create_engine(server + "/")
    with admin.begin() as db:
        db.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        db.exec_driver_sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    found = MysqlLogIndex(f"{server}/{DATABASE}?charset=utf8mb4")
    yield found
    found.dispose()
    with admin.begin() as db:
        db.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin.dispose()


def _line(minutes, message, tenant="t1", source="job", level="INFO"):
    return LogLine(T0 + timedelta(minutes=minutes), tenant, source, "j1", level, message)


def test_fulltext_search_by_words_time_source_level_and_tenant(index):
    index.append(
        [
            _line(0, "loading tokenizer for tiny-llama"),
            _line(1, "step 4/8 training loss 2.31"),
            _line(2, "CUDA out of memory while allocating the training buffer", level="ERROR"),
            _line(3, "replica 0 ready on port 8001", source="service"),
            _line(4, "step 8/8 training loss 1.02", tenant="t2"),
            _line(5, "患者 血压 记录 已 脱敏"),
            _line(6, "高血压患者随访记录：模型训练失败"),
        ],
        Cursor("compute:a", "t1", "job", "j1", offset=99),
    )
    assert index.backend == "mysql-fulltext" and index.cursor("compute:a").offset == 99
    found = [x.message for x in index.search(LogQuery("t1", text="training"))]
    assert found == ["CUDA out of memory while allocating the training buffer", "step 4/8 training loss 2.31"]
    assert [x.message for x in index.search(LogQuery("t1", text="training memory"))] == [found[0]]
    assert [x.level for x in index.search(LogQuery("t1", text="training", levels=("ERROR",)))] == ["ERROR"]
    assert [x.source for x in index.search(LogQuery("t1", sources=("service",)))] == ["service"]
    window = index.search(LogQuery("t1", start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)))
    assert [x.at for x in window] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    assert index.search(LogQuery("t3", text="training")) == []
    assert [x.message for x in index.search(LogQuery("t1", text="0 ready"))] == ["replica 0 ready on port 8001"]
    both = ["高血压患者随访记录：模型训练失败", "患者 血压 记录 已 脱敏"]  # 高血压 holds 血压 too
    assert [x.message for x in index.search(LogQuery("t1", text="血压记录"))] == both
    assert [x.message for x in index.search(LogQuery("t1", text="高血压"))] == ["高血压患者随访记录：模型训练失败"]
    assert [x.message for x in index.search(LogQuery("t1", text="训练失败"))] == ["高血压患者随访记录：模型训练失败"]
    assert index.search(LogQuery("t1", text='training" -memory')) != []  # operators are not obeyed


def test_tail_cursors_and_retention(index):
    index.append([_line(0, "first"), _line(1, "second")])
    newest = index.search(LogQuery("t1", limit=1))[0]
    index.append([_line(2, "third")])
    assert [x.message for x in index.search(LogQuery("t1", after_id=newest.id))] == ["third"]
    index.save_cursor(Cursor("compute:b", "t1", "job", "j1", offset=10))
    index.save_cursor(Cursor("compute:b", "t1", "job", "j1", offset=20, open=False))
    assert index.cursor("compute:b").offset == 20 and index.open_cursors() == []
    index.delete_before(T0 + timedelta(minutes=1, seconds=30))
    assert [x.message for x in index.search(LogQuery("t1"))] == ["third"]
