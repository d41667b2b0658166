"""The deliverer's own rules, on the in-memory store: whatever goes wrong making a delivery
counts as a failed attempt (retried, then given up on), never a lease left to expire forever."""
from __future__ import annotations

import asyncio
import time

from opengp import lifecycle
from opengp.config import Settings
from opengp.core import Job, Status
from opengp.jobs.deliveries import Deliverer, Policy
from opengp.store import MemoryStore
from opengp.store.outbox import FAILED
from opengp.store.webhooks import Webhook


class Unrenderable:
    """A channel whose payload cannot be made (a store read failing, say)."""

    policy = Policy(base=0.01, cap=0.01, max_attempts=2)

    def __init__(self) -> None:
        self.gave_up: list[str] = []

    async def render(self, delivery):
        raise RuntimeError("cannot make it")

    async def given_up(self, delivery, why: str) -> None:
        self.gave_up.append(why)


def test_a_delivery_that_cannot_be_made_is_retried_then_given_up():
    store = MemoryStore()
    store.outbox.add(Webhook("h", "S", "h", "http://example.com/x", created=time.time(), modified=time.time()))
    job = Job.new("S", "T", {})
    store.create(job)
    store.claim(job.id, "w")
    lifecycle.end(store, job.id, Status.SUCCEEDED)
    channel = Unrenderable()
    deliverer = Deliverer(store.outbox, {"webhook": channel}, Settings())

    async def twice() -> None:
        assert await deliverer.deliver_due() == 1
        await asyncio.sleep(0.05)
        assert await deliverer.deliver_due() == 1
        assert await deliverer.deliver_due() == 0

    asyncio.run(twice())
    (delivery,) = store.outbox.history("h")[1]
    assert (delivery.state, delivery.attempts) == (FAILED, 2)
    assert [a.error for a in delivery.history] == ["RuntimeError: cannot make it"] * 2
    assert channel.gave_up == ["RuntimeError: cannot make it"]
