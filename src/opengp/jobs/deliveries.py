"""Delivering what the outbox owes (store/outbox.py): any API server leases the deliveries
that are due, POSTs each (a webhook's, or an OGC callback's: a ``Channel`` per kind, which
the faces provide), and records the answer.

At least once: a delivery is recorded only after its receiver answered, so a server that
dies between the two leaves it to be delivered again (after its lease, by any server); the
``X-OpenGP-Delivery`` header (the delivery id, also in the payload) lets a receiver drop the
second copy.  A receiver that fails (an error status, or no answer in ``webhook_timeout``)
is tried again by its channel's ``Policy`` (webhooks: ``webhook_retry_base`` seconds, doubling
up to ``webhook_retry_cap``, until ``webhook_max_attempts``); then the delivery is failed,
logged and handed to its channel (a webhook's ``notificationStatus`` shows it; a callback's
job gets a message).  Every attempt passes the outbound URL guard.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson

from ..config import Settings
from ..store.outbox import DELIVERED, DROPPED, FAILED, PENDING, Attempt, Delivery, OutboxStore
from ..store.webhooks import FORM, Webhook
from ..system.urls import url_problem

log = logging.getLogger("opengp.webhooks")
LEASE_MARGIN = 20.0         # seconds a lease outlasts its deliveries' bounds
BATCH = 8                   # deliveries leased at once, and threads to post them
PURGE_EVERY = 3600.0        # seconds between purges of old finished deliveries
SIGNATURE_HEADER = "x-esriHook-Signature"
DELIVERY_HEADER = "X-OpenGP-Delivery"

@dataclass(frozen=True)
class Outgoing:
    """One POST: where, what, with which headers."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Policy:
    """How often a kind of delivery is tried: again after ``base`` seconds, doubling up to
    ``cap``, until ``max_attempts`` have failed."""

    base: float
    cap: float
    max_attempts: int


class Channel(Protocol):
    """One kind of delivery (``Delivery.kind``): webhooks (the admin face's), OGC callbacks
    (the OGC face's).  The faces word the payloads; this module delivers them."""

    policy: Policy

    async def render(self, delivery: Delivery) -> Outgoing | str:
        """What to send, or why nothing will be (the delivery is then dropped)."""

    async def given_up(self, delivery: Delivery, why: str) -> None:
        """The last attempt failed: say so where the people concerned will see it."""


def signature(key: str, body: bytes) -> str:
    """``sha256=`` and the base64 HMAC-SHA256 of the body under the webhook's key, as ArcGIS
    writes ``x-esriHook-Signature``."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def encode(hook: Webhook, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers a webhook is sent: JSON (``pjson``: indented), as the body or as the
    form field ``payload``; signed when the webhook has a key (``deliveryId`` in the payload is
    sent as ``X-OpenGP-Delivery`` too)."""
    text = orjson.dumps(payload, option=orjson.OPT_INDENT_2 if hook.payload_format == "pjson" else 0)
    body = urlencode({"payload": text.decode()}).encode() if hook.content_type == FORM else text
    headers = {"Content-Type": hook.content_type, "User-Agent": "opengp-webhooks",
               DELIVERY_HEADER: str(payload.get("deliveryId", ""))}
    if hook.signature_key:
        headers[SIGNATURE_HEADER] = signature(hook.signature_key, body)
    return body, headers


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook's answer is its status; a redirect is not followed (nor counted as delivered)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST and return the receiver's status (an error status too); OSError when unreachable."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:     # noqa: S310 (url_problem checked it)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class Deliverer:
    """One API server's share of the deliveries (``run`` until cancelled)."""

    def __init__(self, outbox: OutboxStore, channels: dict[str, Channel], settings: Settings) -> None:
        self.outbox, self.channels, self.settings = outbox, channels, settings
        # unique even where host names and pids repeat (containers): it owns the leases it takes
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.attempt_time = settings.webhook_timeout + 5.0     # a POST's whole bound (urllib's is per read)
        # a job's deliveries go one after another (a callback's "started", then its end's): two at most
        self.lease = 2 * self.attempt_time + LEASE_MARGIN
        # POSTs wait on receivers: a pool of their own, so a slow receiver never holds up the
        # threads that serve results and uploads (the event loop's default executor)
        self.pool = ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="opengp-deliver")
        self._purged = 0.0

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._purge_now_and_then()
                    if await self.deliver_due():
                        continue            # there may be more
                except asyncio.CancelledError:
                    raise
                except Exception:           # the store is down: try again at the next poll
                    log.exception("delivering webhooks and callbacks failed")
                await asyncio.sleep(self.settings.webhook_poll)
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)

    async def _purge_now_and_then(self) -> None:
        if time.monotonic() - self._purged > PURGE_EVERY:
            self._purged = time.monotonic()
            await asyncio.to_thread(self.outbox.purge)

    async def deliver_due(self) -> int:
        """Lease what is due (as many as there are threads to post them) and deliver it: a job's
        deliveries one after another, oldest event first; different jobs' at once.  (Order is
        kept within a lease: a retry may still come after a later event's first try.)"""
        due = await asyncio.to_thread(self.outbox.claim_due, self.name, self.lease, BATCH)
        by_job: dict[str, list[Delivery]] = {}
        for delivery in due:
            by_job.setdefault(delivery.job_id, []).append(delivery)
        await asyncio.gather(*(self._in_order(group) for group in by_job.values()))
        return len(due)

    async def _in_order(self, group: list[Delivery]) -> None:
        for delivery in sorted(group, key=lambda d: d.next_attempt):
            await self.deliver(delivery)

    async def deliver(self, delivery: Delivery) -> str:
        """Try one delivery once and record what came of it; returns its new state.  Whatever
        goes wrong on the way (a payload that cannot be made) is a failed attempt, retried and
        given up on like a receiver's error, never a lease left to run out again and again."""
        channel = self.channels.get(delivery.kind)
        now = time.time()
        if channel is None:
            return await self._record(delivery, Attempt(now, None, f"no channel {delivery.kind!r}"), DROPPED, now)
        try:
            outgoing = await channel.render(delivery)
            if isinstance(outgoing, str):
                return await self._record(delivery, Attempt(now, None, outgoing), DROPPED, now)
            loop = asyncio.get_running_loop()
            attempt = await asyncio.wait_for(loop.run_in_executor(self.pool, self._attempt, outgoing),
                                             self.attempt_time)
        except asyncio.TimeoutError:
            outgoing, attempt = None, Attempt(now, None, f"no answer in {self.attempt_time:g} s")
        except Exception as exc:
            log.exception("%s %s: could not be made", delivery.kind, delivery.id)
            outgoing, attempt = None, Attempt(now, None, f"{type(exc).__name__}: {exc}")
        policy = channel.policy
        where = outgoing.url if outgoing is not None else delivery.id
        if attempt.error is None:
            state, retry_at = DELIVERED, now
        elif delivery.attempts + 1 >= policy.max_attempts:
            state, retry_at = FAILED, now
            log.warning("%s %s (%s): gave up after %d attempts: %s", delivery.kind, delivery.id, where,
                        delivery.attempts + 1, attempt.error)
        else:
            state, retry_at = PENDING, now + backoff(policy, delivery.attempts + 1)
            log.info("%s %s (%s) failed (%s); trying again in %.0f s", delivery.kind, delivery.id, where,
                     attempt.error, retry_at - now)
        recorded = await self._record(delivery, attempt, state, retry_at)
        if state == FAILED and recorded == FAILED:
            try:
                await channel.given_up(delivery, attempt.error or "")
            except Exception:
                log.exception("%s %s: saying it failed failed", delivery.kind, delivery.id)
        return state

    async def _record(self, delivery: Delivery, attempt: Attempt, state: str, retry_at: float) -> str:
        """Record the attempt; returns ``state``, or "" when the lease was lost meanwhile."""
        held = await asyncio.to_thread(self.outbox.record, delivery, self.name, attempt, state, retry_at)
        return state if held else ""

    def _attempt(self, outgoing: Outgoing) -> Attempt:
        started = time.time()
        problem = url_problem(outgoing.url, self.settings.allow_private_urls)
        if problem:
            return Attempt(started, None, f"{outgoing.url} {problem}")
        try:
            code = post(outgoing.url, outgoing.body, outgoing.headers, self.settings.webhook_timeout)
        except Exception as exc:         # refused, timed out, TLS: not delivered
            return Attempt(started, None, str(getattr(exc, "reason", None) or exc) or type(exc).__name__)
        return Attempt(started, code, None if 200 <= code < 300 else f"HTTP {code}")


def backoff(policy: Policy, tried: int) -> float:
    """Seconds until the next try after ``tried`` failed ones: doubling, capped, with a little
    jitter so a receiver coming back is not hit by every server at once."""
    return min(policy.cap, policy.base * 2 ** (tried - 1)) * random.uniform(0.9, 1.0)
