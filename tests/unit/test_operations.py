"""Admin operations on one resource: started at once, run one at a time, in order."""
from __future__ import annotations

import asyncio
import time

from opengp.core import Status
from opengp.jobs.operations import AdminOperations, Operation, Stage
from opengp.store import MemoryStore


def _op(name: str, log: list[str], seconds: float) -> Operation:
    async def work() -> None:
        log.append(f"{name} start")
        await asyncio.sleep(seconds)
        log.append(f"{name} end")

    return Operation(name, "Ops/Tools", f"/arcgis/admin/services/Ops/Tools.GPServer/{name}", {},
                     [Stage("working", work)])


def test_two_operations_asked_together_both_answer_at_once_and_run_in_turn():
    async def run() -> tuple[list[float], list[Status], list[str], list[Status]]:
        store = MemoryStore()
        # a thread hop per store call, as on PostgreSQL: start() yields between its steps
        ops = AdminOperations(store, lambda fn, *a, **kw: asyncio.to_thread(fn, *a, **kw))
        log: list[str] = []

        async def timed(op: Operation):
            t0 = time.monotonic()
            job = await ops.start(op)
            return time.monotonic() - t0, job

        (ta, a), (tb, b) = await asyncio.gather(timed(_op("first", log, 1.0)), timed(_op("second", log, 0.1)))
        at_start = [store.get(a.id).status, store.get(b.id).status]
        for _ in range(100):
            if all(store.get(j.id).status.terminal for j in (a, b)):
                break
            await asyncio.sleep(0.05)
        return [ta, tb], at_start, log, [store.get(a.id).status, store.get(b.id).status]

    took, at_start, log, end = asyncio.run(run())
    assert max(took) < 0.5, f"a start waited for the other operation: {took}"
    assert sorted(s.value for s in at_start) == ["executing", "submitted"]
    # one at a time (which goes first depends on which store call returned first)
    assert log in (["first start", "first end", "second start", "second end"],
                   ["second start", "second end", "first start", "first end"])
    assert end == [Status.SUCCEEDED, Status.SUCCEEDED]


def test_cancel_follows_the_rules_of_every_job():
    """A finished operation is returned unchanged, as JobService.cancel returns a finished job
    (it raised Conflict: the admin face now says "already ended" in its own words); a running
    one is asked to stop and ends cancelled, its stages undone."""
    async def run() -> tuple[Status, Status, Status]:
        store = MemoryStore()

        async def inline(fn, *a, **kw):
            return fn(*a, **kw)

        ops = AdminOperations(store, inline)
        done = await ops.run(_op("quick", [], 0.0))
        again = await ops.cancel(done.id)
        slow = await ops.start(_op("slow", [], 2.0))
        asked = await ops.cancel(slow.id)
        for _ in range(100):
            if store.get(slow.id).status.terminal:
                break
            await asyncio.sleep(0.05)
        return again.status, asked.status, store.get(slow.id).status

    again, asked, ended = asyncio.run(run())
    assert again is Status.SUCCEEDED
    assert asked is Status.CANCELLING and ended is Status.CANCELLED
