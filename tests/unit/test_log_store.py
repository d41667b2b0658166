"""The server log's contract on every backend (memory, SQLite, PostgreSQL): records kept and
read newest first by level, time, service, machine, process, job and request; trimmed by rows
and age.  And its writer: a queue that never blocks, drops (counted) when full, and pages that
never split one millisecond."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import SimpleNamespace

import pytest

from opengp.jobs.logs import ServerLog
from opengp.store.logs import CappedWriter, LogQuery, open_log_store
from opengp.system.logcontext import job_scope
from opengp.system.logqueue import BatchHandler, record_row


def row(message: str, t: int, level: int = logging.WARNING, **about: object) -> dict:
    return {"time": t, "level": level, "logger": about.pop("logger", "tests"), "message": message,
            "machine": about.pop("machine", "m1"), "process": about.pop("process", 1),
            "thread": about.pop("thread", "MainThread"), "method": about.pop("method", "f"), **about}


@pytest.fixture
def logs(each_store):
    return open_log_store(each_store)


def messages(records) -> list[str]:
    return [r.message for r in records]


def test_records_come_back_newest_first_at_their_level_and_above(logs):
    logs.add([row("old", 1000, logging.ERROR), row("info", 2000, logging.INFO), row("new", 3000),
              row("same ms, written later", 3000)])
    assert messages(logs.query(LogQuery())) == ["same ms, written later", "new", "old"]
    assert messages(logs.query(LogQuery(level=logging.INFO))) == ["same ms, written later", "new", "info", "old"]
    assert messages(logs.query(LogQuery(level=logging.ERROR))) == ["old"]
    assert messages(logs.query(LogQuery(limit=1))) == ["same ms, written later"]


def test_filters_by_time_service_machine_process_job_and_request(logs):
    logs.add([row("a", 1000, service="S/One", job_id="j1", request_id="r1"),
              row("b", 2000, service="S/Two", job_id="j2", request_id="r2", machine="m2", process=7),
              row("c", 3000)])
    assert messages(logs.query(LogQuery(newest=2000, oldest=1000))) == ["b", "a"]
    assert messages(logs.query(LogQuery(newest=1999))) == ["a"]
    assert messages(logs.query(LogQuery(oldest=2001))) == ["c"]
    assert messages(logs.query(LogQuery(services=("S/Two",)))) == ["b"]
    assert messages(logs.query(LogQuery(machines=("m2",)))) == ["b"]
    assert messages(logs.query(LogQuery(processes=(7,)))) == ["b"]
    assert messages(logs.query(LogQuery(job_ids=("j1", "j2")))) == ["b", "a"]
    assert messages(logs.query(LogQuery(request_ids=("r1",)))) == ["a"]
    [a] = logs.query(LogQuery(job_ids=("j1",)))
    assert (a.service, a.request_id, a.machine, a.time, a.level) == ("S/One", "r1", "m1", 1000, logging.WARNING)


def test_an_odd_record_is_kept_fitted_and_never_loses_the_batch_written_with_it(logs):
    """PostgreSQL holds no NUL in text and refuses a value wider than its column: such a record
    once failed its whole batch (the good records with it).  Every text is kept without NUL and
    cut to its column's width (store/tables.py ``logs``)."""
    odd = row("a NUL \x00 in the message", 1000, logger="l" * 300 + "\x00", machine="m\x00" + "m" * 300,
              thread="t\x00" * 100, method="f" * 300, job_id="j\x00" + "j" * 100, request_id="r" * 100,
              service="S/\x00One", username="u" * 300)
    logs.add([row("good", 2000), odd])
    good, kept = logs.query(LogQuery(limit=None))
    assert good.message == "good"
    assert kept.message == "a NUL  in the message" and kept.logger == "l" * 255
    assert kept.machine == "m" * 255 and kept.thread == "t" * 64 and kept.method == "f" * 255
    assert (kept.job_id, kept.request_id, kept.service, kept.username) == ("j" * 64, "r" * 64, "S/One", "u" * 255)


def test_trim_keeps_the_newest_rows_within_the_cap_and_the_age(logs):
    now = int(time.time() * 1000)
    logs.add([row("ancient", now - 10 * 86400_000)] + [row(f"n{i}", now + i) for i in range(6)])
    assert logs.trim(max_rows=100, max_age=86400) == 1
    assert logs.trim(max_rows=4, max_age=86400) == 2
    assert messages(logs.query(LogQuery(limit=None))) == ["n5", "n4", "n3", "n2"]
    assert logs.trim(max_rows=4, max_age=86400) == 0
    assert logs.clear() == 4 and logs.query(LogQuery()) == []


def test_a_capped_writer_trims_as_it_writes(logs):
    write = CappedWriter(logs, max_rows=3, max_days=1)
    now = int(time.time() * 1000)
    for i in range(6):      # trimmed after every min(max_rows, 1000) rows written
        write([row(f"n{i}", now + i)])
    assert messages(logs.query(LogQuery(limit=None))) == ["n5", "n4", "n3"]


def test_records_carry_the_job_and_request_they_are_about():
    got: list[dict] = []
    handler = BatchHandler(got.extend, logging.INFO, interval=0.01)
    logger = logging.getLogger("tests.logstore.scope")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        from opengp.system.logsetup import attach_store, detach_store      # installs the record factory

        detach_store(attach_store(lambda rows: None, logging.CRITICAL))
        with job_scope("j1", "r1", "S/One", "alice"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        handler.close()
    inside, outside = got
    assert (inside["job_id"], inside["request_id"], inside["service"], inside["username"]) == ("j1", "r1", "S/One",
                                                                                             "alice")
    assert (outside["job_id"], outside["request_id"]) == (None, None)


def test_a_full_queue_drops_and_says_how_many_without_blocking():
    release = threading.Event()
    got: list[dict] = []

    def slow(rows: list[dict]) -> None:
        release.wait(10)
        got.extend(rows)

    handler = BatchHandler(slow, logging.INFO, capacity=3, batch=1, interval=0.01)
    record = logging.LogRecord("tests", logging.WARNING, __file__, 1, "line %d", (0,), None)
    started = time.monotonic()
    for _ in range(50):
        handler.emit(record)
    assert time.monotonic() - started < 1.0            # never waited for the sink
    release.set()
    handler.close()
    dropped = [r for r in got if "dropped" in r["message"]]
    assert handler.dropped_total >= 40 and dropped
    assert sum(int(r["message"].split()[0]) for r in dropped) == handler.dropped_total


def test_a_failing_sink_loses_its_batch_and_keeps_going():
    got: list[dict] = []
    calls = []

    def flaky(rows: list[dict]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("store down")
        got.extend(rows)

    handler = BatchHandler(flaky, logging.INFO, batch=1, interval=0.01)
    for i in range(2):
        handler.emit(logging.LogRecord("tests", logging.WARNING, __file__, 1, "line %d", (i,), None))
    handler.close()
    assert [r["message"] for r in got] == ["line 1"]


def test_a_page_never_splits_one_millisecond(logs):
    """Pages of 2 over 5 records, 3 of them in one millisecond: the next page starts at its
    endTime and no record is repeated or skipped."""
    logs.add([row("a", 1000), row("b", 2000), row("c1", 2000), row("c2", 2000), row("d", 3000)])
    server_log = ServerLog(logs, SimpleNamespace(log_store_level="OFF", log_store_rows=100, log_store_days=1,
                                                 log_format="text"))
    seen, newest, pages = [], 5000, 0
    while True:
        page = asyncio.run(server_log.page(LogQuery(newest=newest, limit=2)))
        seen += messages(page.records)
        pages += 1
        if not page.has_more:
            break
        newest = page.oldest
        assert pages < 10
    assert seen == ["d", "c2", "c1", "b", "a"]


def test_record_rows_keep_the_traceback_and_cut_long_messages():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("tests", logging.ERROR, __file__, 1, "x" * 20000, None, sys.exc_info())
    row_ = record_row(record)
    assert len(row_["message"]) == 8000
    record = logging.LogRecord("tests", logging.ERROR, __file__, 1, "failed", None, (ValueError, ValueError("boom"),
                                                                                     None))
    assert "ValueError: boom" in record_row(record)["message"]
