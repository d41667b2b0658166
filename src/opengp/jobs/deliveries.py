"""Delivering what the outbox owes (store/outbox.py): any API server leases the deliveries
that are due, POSTs each to its webhook, and records the answer.

At least once: a delivery is recorded only after its receiver answered, so a server that
dies between the two leaves it to be delivered again (after its lease, by any server); the
``X-OpenGP-Delivery`` header (the delivery id, also in the payload) lets a receiver drop the
second copy.  A receiver that fails (an error status, or no answer in ``webhook_timeout``)
is tried again after ``webhook_retry_base`` seconds, doubling up to ``webhook_retry_cap``,
until ``webhook_max_attempts``; then the delivery is failed, logged and shown in the
webhook's ``notificationStatus``.  Every attempt passes the outbound URL guard.
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
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

from ..config import Settings
from ..store.outbox import DELIVERED, DROPPED, FAILED, PENDING, Attempt, Delivery, OutboxStore
from ..store.webhooks import FORM, Webhook, WebhookStore
from ..system.urls import url_problem

log = logging.getLogger("opengp.webhooks")
LEASE_MARGIN = 20.0         # seconds a lease outlasts the receiver's timeout
BATCH = 20
SIGNATURE_HEADER = "x-esriHook-Signature"
DELIVERY_HEADER = "X-OpenGP-Delivery"

Payload = Callable[[Delivery, Webhook], dict[str, Any]]


def signature(key: str, body: bytes) -> str:
    """``sha256=`` and the base64 HMAC-SHA256 of the body under the webhook's key, as ArcGIS
    writes ``x-esriHook-Signature``."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def encode(hook: Webhook, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers a webhook is sent: JSON (``pjson``: indented), as the body or as the
    form field ``payload``; signed when the webhook has a key."""
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

    def __init__(self, outbox: OutboxStore, hooks: WebhookStore, settings: Settings, payload: Payload) -> None:
        self.outbox, self.hooks, self.settings, self.payload = outbox, hooks, settings, payload
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.lease = settings.webhook_timeout + LEASE_MARGIN
        self.wake = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                due = await asyncio.to_thread(self.outbox.claim_due, self.name, self.lease, BATCH)
                if due:
                    await asyncio.gather(*(asyncio.to_thread(self.deliver, d) for d in due))
                    continue            # there may be more
            except asyncio.CancelledError:
                raise
            except Exception:           # the store is down: try again at the next poll
                log.exception("delivering webhooks failed")
            try:
                await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    def deliver(self, delivery: Delivery) -> str:
        """Try one delivery once and record what came of it; returns its new state."""
        hook = self.hooks.get(delivery.target)
        now = time.time()
        if hook is None or not hook.active:
            why = "the webhook was deleted" if hook is None else "the webhook was deactivated"
            self.outbox.record(delivery, self.name, Attempt(now, None, why), DROPPED, now)
            return DROPPED
        attempt = self._attempt(delivery, hook)
        if attempt.error is None:
            state, retry_at = DELIVERED, now
        elif delivery.attempts + 1 >= self.settings.webhook_max_attempts:
            state, retry_at = FAILED, now
            log.warning("webhook %s (%s) of %s: gave up on delivery %s after %d attempts: %s", hook.name,
                        hook.hook_url, hook.service, delivery.id, delivery.attempts + 1, attempt.error)
        else:
            state, retry_at = PENDING, now + self.backoff(delivery.attempts + 1)
            log.info("webhook %s of %s: delivery %s failed (%s); trying again in %.0f s", hook.name,
                     hook.service, delivery.id, attempt.error, retry_at - now)
        self.outbox.record(delivery, self.name, attempt, state, retry_at)
        return state

    def backoff(self, tried: int) -> float:
        """Seconds until the next try after ``tried`` failed ones: doubling, capped, with a
        little jitter so receivers coming back are not hit by every server at once."""
        delay = min(self.settings.webhook_retry_cap, self.settings.webhook_retry_base * 2 ** (tried - 1))
        return delay * random.uniform(0.9, 1.0)

    def _attempt(self, delivery: Delivery, hook: Webhook) -> Attempt:
        started = time.time()
        problem = url_problem(hook.hook_url, self.settings.allow_private_urls)
        if problem:
            return Attempt(started, None, f"{hook.hook_url} {problem}")
        body, headers = encode(hook, {**self.payload(delivery, hook), "deliveryId": delivery.id})
        try:
            code = post(hook.hook_url, body, headers, self.settings.webhook_timeout)
        except Exception as exc:         # refused, timed out, TLS: not delivered
            return Attempt(started, None, str(getattr(exc, "reason", None) or exc) or type(exc).__name__)
        return Attempt(started, code, None if 200 <= code < 300 else f"HTTP {code}")
