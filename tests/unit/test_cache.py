"""store/cache.py: jobs from memory on an API server: finished ones for any read, never stale
after a change; unfinished ones for status polls (``peek``) only, at most a notification behind.

Two stores on one real PostgreSQL database play two processes: ``a`` (an API
server: a JobCache and a Listener) and ``b`` (another server or a worker: it
announces its writes, as every scale-out process does).  The database is a
scratch one of this module's own, since one test ends its listener's connection.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator

import pytest

from opengp.core import Job, Message, Progress, Status
from opengp.store.cache import JobCache
from opengp.store.notify import Listener, announce_changes
from opengp.store.sql import SqlStore

from conftest import PG_SERVER_URL, require


def _finished(status: Status = Status.SUCCEEDED) -> Job:
    job = Job.new("Demo/Tools", "Echo", {"text": "hi"})
    return job.evolve(status=status, finished=time.time(), messages=(Message.now("info", "done"),))


# -- the cache alone ---------------------------------------------------------------------

def test_a_read_that_raced_an_invalidation_of_its_job_is_not_kept():
    cache = JobCache(size=3)
    cache.start(60)
    job, other = _finished(), _finished()
    token = cache.token()           # a reader took its token, then read the database...
    cache.invalidate([job.id])      # ...while the job changed
    cache.put(job, token)
    assert cache.get(job.id) is None
    cache.put(job, cache.token())
    assert cache.get(job.id) == job
    token = cache.token()
    cache.invalidate([other.id])    # another job's change does not turn this read away
    cache.put(job, token)
    assert cache.get(job.id) == job
    cache.invalidate(["x", "y", "z"])   # more invalidations than it remembers (size): one may be this job's
    cache.put(other, token)
    assert cache.get(other.id) is None


def test_unfinished_jobs_are_answered_only_to_peeks_and_only_while_on():
    cache = JobCache()
    running = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.EXECUTING)
    done = _finished()
    cache.put(done, cache.token())          # off until a listener starts it
    assert cache.get(done.id) is None
    cache.start(60)
    cache.put(running, cache.token())
    cache.put(done, cache.token())
    assert cache.get(running.id) is None and cache.get(running.id, live=True) == running
    assert cache.get(done.id) == done and cache.get(done.id, live=True) == done
    token = cache.token()
    cache.stop()
    assert not cache.on and cache.get(done.id) is None and cache.get(running.id, live=True) is None
    cache.start(60)
    cache.put(done, token)                  # read before the stop and the restart: refused
    assert cache.get(done.id) is None


def test_of_two_racing_reads_the_newer_row_stays():
    cache = JobCache()
    cache.start(60)
    running = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.EXECUTING)
    done = running.evolve(status=Status.SUCCEEDED, updated=running.updated + 1, finished=running.updated + 1)
    token = cache.token()           # two readers began before the notification of the finish arrived
    cache.put(done, token)          # the later read saw the finish
    cache.put(running, token)       # the earlier one did not, and came back last
    assert cache.get(running.id, live=True) == done


def test_an_unfinished_job_is_kept_at_most_live_max_age_seconds():
    cache = JobCache(max_age=60, live_max_age=0.05)
    cache.start(60)
    running = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.EXECUTING)
    done = _finished()
    cache.put(running, cache.token())
    cache.put(done, cache.token())
    time.sleep(0.1)
    assert cache.get(running.id, live=True) is None and cache.get(done.id) == done


def test_the_cache_turns_itself_off_when_the_listener_stops_proving_it_is_alive():
    cache = JobCache()
    cache.start(0.05)
    job = _finished()
    cache.put(job, cache.token())
    cache.alive(0.05)
    assert cache.get(job.id) == job
    time.sleep(0.1)                         # no ping answered: a silently dead connection
    assert not cache.on and cache.get(job.id) is None and len(cache) == 0


def test_a_job_is_kept_at_most_max_age_seconds():
    cache = JobCache(max_age=0.05)      # what no notification announces (a writer died after its commit)
    cache.start(60)
    job = _finished()
    cache.put(job, cache.token())
    assert cache.get(job.id) == job
    time.sleep(0.1)
    assert cache.get(job.id) is None and job.id not in cache


def test_the_least_recently_used_job_goes_first():
    cache = JobCache(size=2)
    cache.start(60)
    one, two, three = _finished(), _finished(), _finished()
    for job in (one, two):
        cache.put(job, cache.token())
    cache.get(one.id)
    cache.put(three, cache.token())
    assert one.id in cache and three.id in cache and two.id not in cache


# -- two processes on one PostgreSQL -------------------------------------------------------------

@pytest.fixture
def pg_url() -> Iterator[str]:
    try:
        import psycopg

        admin = psycopg.connect(PG_SERVER_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=2)
    except Exception as exc:
        require(False, f"PostgreSQL at {PG_SERVER_URL} is not usable: {exc}")
    name = f"opengp_cache_{os.getpid()}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


async def _until(condition: Callable[[], bool], timeout: float = 2.0) -> float:
    """Seconds until ``condition`` held (the event loop runs meanwhile: the listener hears)."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.002)
    return time.monotonic() - t0


def _two_processes(url: str, scenario: Callable[[SqlStore, SqlStore, Listener], object]) -> None:
    a, b = SqlStore(url), SqlStore(url, migrate=False)
    a.cache = JobCache()
    events = [announce_changes(a, url), announce_changes(b, url)]

    async def run() -> None:
        listener = Listener(url, lambda ids: None, lambda: None, cache=a.cache)
        listener.start()
        try:
            await _until(lambda: listener.connects == 1, 10)
            await scenario(a, b, listener)
        finally:
            await listener.stop()

    try:
        asyncio.run(run())
    finally:
        for e in events:
            e.close()
        a.close()
        b.close()


def test_a_change_or_deletion_through_another_process_reaches_the_cache(pg_url):
    async def scenario(a: SqlStore, b: SqlStore, listener: Listener) -> None:
        job = _finished()
        b.create(job)
        assert a.get(job.id) == job and a.get(job.id) == job
        assert a.cache.hits == 1                    # the second read came from memory
        b.transition(job.id, [Status.SUCCEEDED], Status.SUCCEEDED, messages=[Message.now("info", "noted")])
        lag = await _until(lambda: len(a.get(job.id).messages) == 2)
        assert lag < 1.0
        assert a.get(job.id) == b.get(job.id)
        b.delete(job.id)                            # deletions are announced too
        await _until(lambda: a.get(job.id) is None)
        assert job.id not in a.cache

    _two_processes(pg_url, scenario)


def test_this_process_sees_its_own_writes_at_once(pg_url):
    async def scenario(a: SqlStore, b: SqlStore, listener: Listener) -> None:
        job = _finished()
        b.create(job)
        a.get(job.id)
        assert job.id in a.cache
        a.transition(job.id, [Status.SUCCEEDED], Status.SUCCEEDED, messages=[Message.now("info", "noted")])
        assert len(a.get(job.id).messages) == 2     # no await: before any notification could arrive
        a.delete(job.id)
        assert a.get(job.id) is None

    _two_processes(pg_url, scenario)


def test_running_jobs_are_read_from_the_database_except_by_status_peeks(pg_url):
    async def scenario(a: SqlStore, b: SqlStore, listener: Listener) -> None:
        job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED)
        b.create(job)
        b.claim(job.id, "host:1")
        assert a.get(job.id).status is Status.EXECUTING
        b.report(job.id, [], Progress(40, "half"))
        assert a.get(job.id).progress.percent == 40     # get: at once, no notification needed
        hits = a.cache.hits
        await _until(lambda: a.peek(job.id).progress.percent == 40)     # the report's notification came
        assert a.peek(job.id).progress.percent == 40 and a.cache.hits > hits    # from memory now
        b.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())
        assert a.get(job.id).status is Status.SUCCEEDED      # get never answers an unfinished job from memory
        lag = await _until(lambda: a.peek(job.id).status is Status.SUCCEEDED)
        assert lag < 1.0                                # a peek: as soon as the notification arrives

    _two_processes(pg_url, scenario)


def test_a_cancel_is_announced_by_its_own_commit(pg_url):
    """A cancel's NOTIFY goes inside its transaction, not through the batching notifier: here
    ``b``'s notifier drops everything (a stand-in, so that only the commit itself can tell
    ``a``), and ``a``, which kept the running job for its polls, still hears of the cancel."""
    class Dropped:
        def changed(self, *job_ids: str) -> None:
            pass

        def close(self, timeout: float = 2.0) -> None:
            pass

    async def scenario(a: SqlStore, b: SqlStore, listener: Listener) -> None:
        job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED)
        b.create(job)
        b.claim(job.id, "host:1")
        await _until(lambda: a.peek(job.id).status is Status.EXECUTING)
        assert job.id in a.cache
        b.events = Dropped()
        b.report(job.id, [], Progress(40, "half"))          # not a cancel: never announced now
        b.transition(job.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True,
                     messages=[Message.now("warning", "Cancel requested.")])
        await _until(lambda: a.peek(job.id).status is Status.CANCELLING, 5)
        assert a.peek(job.id).progress.percent == 40        # the row as the cancel left it

    _two_processes(pg_url, scenario)


def test_a_lost_listener_empties_the_cache_and_serves_from_the_database_until_it_is_back(pg_url):
    import psycopg

    async def scenario(a: SqlStore, b: SqlStore, listener: Listener) -> None:
        job = _finished()
        b.create(job)
        a.get(job.id)
        assert job.id in a.cache
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
        await _until(lambda: job.id not in a.cache)     # the loss emptied it (and turned it off)
        # a change the listener may never hear of (made while it is down): read from the database
        b.transition(job.id, [Status.SUCCEEDED], Status.SUCCEEDED, messages=[Message.now("info", "noted")])
        assert len(a.get(job.id).messages) == 2
        await _until(lambda: listener.connects == 2, 10)
        hits = a.cache.hits
        a.get(job.id)
        assert a.get(job.id) == b.get(job.id) and a.cache.hits == hits + 1     # on again after the reconnect

    _two_processes(pg_url, scenario)


def test_a_notification_whose_send_failed_is_sent_again(pg_url):
    """Caches rely on every change being announced: a NOTIFY that failed is retried (notify.py)."""
    import psycopg

    from opengp.store.notify import NOTIFY_NAME, JobEvents

    libpq = pg_url.replace("+psycopg", "")

    def notifier_backends(admin: psycopg.Connection) -> list[int]:
        return [r[0] for r in admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                                            "AND datname = current_database()", (NOTIFY_NAME,))]

    async def run() -> None:
        got: set[str] = set()
        listener = Listener(pg_url, got.update, lambda: None)
        listener.start()
        events = JobEvents(pg_url)
        try:
            await _until(lambda: listener.connects == 1, 10)
            events.changed("first")
            await _until(lambda: "first" in got, 5)
            with psycopg.connect(libpq, autocommit=True) as admin:
                for pid in notifier_backends(admin):
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                await _until(lambda: not notifier_backends(admin), 5)
            events.changed("second")        # its send fails on the dead connection
            await _until(lambda: "second" in got, 5)
        finally:
            events.close()
            await listener.stop()

    asyncio.run(run())
