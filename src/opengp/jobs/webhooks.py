"""A GP service's webhooks: who may have one, what a new or edited one must be, and their
deliveries (the admin face words the requests and answers: api/admin/webhooks.py).

A webhook fires when a job of its service ends (the outbox row is written with the end:
store/outbox.py; jobs/deliveries.py delivers).  Only asynchronous services take webhooks, as
in ArcGIS; names are unique per service; the URL passes the outbound guard when it is set.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from ..config import Settings
from ..core import InvalidInput, NotFound
from ..store.outbox import Delivery, OutboxStore
from ..store.webhooks import Webhook, WebhookStore
from ..system.urls import url_problem
from .service import JobService

INVALID = "Invalid webhook."


class WebhookManager:
    def __init__(self, hooks: WebhookStore, outbox: OutboxStore, jobs: JobService, settings: Settings) -> None:
        self.hooks, self.outbox, self.jobs, self.settings = hooks, outbox, jobs, settings

    async def list(self, key: str) -> list[Webhook]:
        return await self.jobs.io(self.hooks.list, key)

    async def get(self, key: str, hook_id: str) -> Webhook:
        """The service's webhook; NotFound for another service's or none."""
        hook = await self.jobs.io(self.hooks.get, hook_id)
        if hook is None or hook.service != key:
            raise NotFound(f"Webhook '{hook_id}' not found on '{key}.GPServer'.")
        return hook

    async def find(self, hook_id: str) -> Webhook | None:
        """Any service's webhook (a delivery's)."""
        return await self.jobs.io(self.hooks.get, hook_id)

    async def create(self, key: str, changes: dict[str, Any], who: str) -> Webhook:
        """A new webhook of service ``key`` from ``changes`` (Webhook's fields, checked for their
        form by the face); ``name`` and ``hook_url`` are required."""
        service = self.jobs.registry.services.get(key)
        if service is not None and service.synchronous:
            raise InvalidInput(INVALID, [
                "Only asynchronous services take webhooks: a synchronous one answers with its results."])
        for field, said in (("name", "name"), ("hook_url", "hookUrl")):
            if not changes.get(field):
                raise InvalidInput(INVALID, [f"'{said}' is required."])
        now = time.time()
        hook = await self._checked(Webhook(uuid.uuid4().hex, key, "", "", owner=who, modified_by=who,
                                           created=now, modified=now), changes)
        await self.jobs.io(self.hooks.add, hook)
        return hook

    async def edit(self, key: str, hook_id: str, changes: dict[str, Any], who: str) -> Webhook:
        hook = await self._checked(await self.get(key, hook_id), changes)
        hook = hook.evolve(modified=time.time(), modified_by=who)
        await self.jobs.io(self.hooks.replace, hook)
        return hook

    async def remove(self, key: str, hook_id: str) -> None:
        await self.jobs.io(self.hooks.remove, (await self.get(key, hook_id)).id)

    async def remove_all(self, key: str) -> None:
        for hook in await self.list(key):
            await self.jobs.io(self.hooks.remove, hook.id)

    async def activate_all(self, key: str, active: bool, who: str) -> None:
        for hook in await self.list(key):
            await self.jobs.io(self.hooks.replace, hook.evolve(active=active, modified=time.time(), modified_by=who))

    async def notifications(self, key: str, hook_id: str, offset: int, limit: int) -> tuple[int, list[Delivery]]:
        """``(total, a page)`` of the webhook's deliveries, newest first."""
        hook = await self.get(key, hook_id)
        return await self.jobs.io(self.outbox.history, hook.id, offset, limit)

    async def _checked(self, hook: Webhook, changes: dict[str, Any]) -> Webhook:
        url = changes.get("hook_url")
        if url is not None:
            # it resolves the host name: off the event loop
            problem = await asyncio.to_thread(url_problem, url, self.settings.allow_private_urls)
            if problem:
                raise InvalidInput(INVALID, [f"'hookUrl' {problem}."])
        return hook.evolve(**changes)
