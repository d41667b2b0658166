"""store/notify.py on a real PostgreSQL: batched NOTIFYs reach a Listener, under the payload limit."""
from __future__ import annotations

import asyncio
import uuid

from conftest import PG_URL, fresh_postgres

from opengp.store.notify import MAX_PAYLOAD, JobEvents, Listener, payloads


def require_postgres() -> None:
    """Skip (fail under OPENGP_REQUIRE_ALL=1) without a PostgreSQL to notify through (this
    run's scratch database: NOTIFY needs no tables)."""
    fresh_postgres()


def test_payloads_keep_every_id_and_stay_under_the_limit():
    ids = [uuid.uuid4().hex for _ in range(1000)]
    out = payloads(ids)
    assert len(out) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in out)
    assert [i for p in out for i in p.split()] == ids


async def _listening(ids: set[str]) -> tuple[set[str], Listener]:
    """A started, connected Listener and the set it fills with those of ``ids`` it hears."""
    got: set[str] = set()
    connected = asyncio.Event()
    listener = Listener(PG_URL, lambda batch: got.update(i for i in batch if i in ids), connected.set)
    listener.start()
    await asyncio.wait_for(connected.wait(), 10)
    return got, listener


async def _until_heard(got: set[str], ids: set[str], tries: int) -> None:
    for _ in range(tries):
        if got == ids:
            return
        await asyncio.sleep(0.02)


def test_a_burst_of_changes_reaches_a_listener_in_a_few_notifications():
    require_postgres()
    ids = {uuid.uuid4().hex for _ in range(2000)}

    async def run() -> tuple[set[str], int]:
        got, listener = await _listening(ids)
        events = JobEvents(PG_URL)
        for job_id in ids:
            events.changed(job_id)
        await _until_heard(got, ids, 200)
        events.close()
        await listener.stop()
        return got, events.sent

    got, sent = asyncio.run(run())
    assert got == ids
    assert sent < 100       # batched: 2000 ids in far fewer statements


def test_close_sends_what_is_pending_before_it_returns():
    """A server that stops must not leave other servers' caches holding the jobs it just changed."""
    require_postgres()
    ids = {uuid.uuid4().hex for _ in range(50)}

    async def run() -> set[str]:
        got, listener = await _listening(ids)
        events = JobEvents(PG_URL)
        first, *rest = sorted(ids)
        events.changed(first)           # starts a send; the rest wait for the next batch
        for job_id in rest:
            events.changed(job_id)
        await asyncio.to_thread(events.close)
        await _until_heard(got, ids, 100)       # delivered: the listener only needs to read them
        await listener.stop()
        return got

    assert asyncio.run(run()) == ids
