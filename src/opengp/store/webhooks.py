"""GP service webhooks as the admin API left them: the record, the WebhookStore protocol, and
its SQL backend (the in-memory one is ``outbox.MemoryOutbox``, which the in-memory job store
fills as jobs end).

A webhook belongs to a service (by key); its deliveries wait in the outbox (``outbox.py``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from ..core import Conflict, StoreError
from .engine import run
from .tables import webhooks

JSON, FORM = "application/json", "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Webhook:
    """One webhook of a GP service (ArcGIS's fields, snake-cased)."""

    id: str
    service: str
    name: str
    hook_url: str
    signature_key: str | None = field(default=None, repr=False)     # never in a log or a traceback
    active: bool = True
    content_type: str = JSON
    payload_format: str = "json"            # or "pjson"
    change_types: tuple[str, ...] = ("*",)
    owner: str | None = None
    modified_by: str | None = None
    created: float = 0.0
    modified: float = 0.0

    def evolve(self, **changes: Any) -> Webhook:
        return dataclasses.replace(self, **changes)


class WebhookStore(Protocol):
    def list(self, service: str) -> list[Webhook]:
        """The service's webhooks, oldest first."""

    def get(self, hook_id: str) -> Webhook | None: ...

    def add(self, hook: Webhook) -> None:
        """Insert; ``Conflict`` when the service has a webhook of that name."""

    def replace(self, hook: Webhook) -> None:
        """Overwrite (``Conflict`` for a name taken by another of the service's webhooks)."""

    def remove(self, hook_id: str) -> bool: ...

    def remove_service(self, service: str) -> int:
        """Remove every webhook of a service (it was deleted); returns how many."""


def name_taken(hook: Webhook) -> Conflict:
    return Conflict(f"Service '{hook.service}' already has a webhook named '{hook.name}'.")


def to_row(hook: Webhook) -> dict[str, Any]:
    row = dataclasses.asdict(hook)
    row["change_types"] = orjson.dumps(list(hook.change_types)).decode()
    return row


def from_row(row: Row | dict[str, Any]) -> Webhook:
    m = dict(row._mapping if isinstance(row, Row) else row)
    m["change_types"] = tuple(orjson.loads(m["change_types"]))
    m["active"] = bool(m["active"])
    return Webhook(**m)


class SqlWebhookStore:
    """Webhooks over the job store's engine (migrations already applied by SqlStore)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _run(self, fn: Any, write: bool = False) -> Any:
        return run(self.engine, fn, write=write, what="webhook")

    def list(self, service: str) -> list[Webhook]:
        stmt = select(webhooks).where(webhooks.c.service == service).order_by(webhooks.c.created, webhooks.c.id)
        return self._run(lambda c: [from_row(r) for r in c.execute(stmt)])

    def get(self, hook_id: str) -> Webhook | None:
        row = self._run(lambda c: c.execute(select(webhooks).where(webhooks.c.id == hook_id)).first())
        return None if row is None else from_row(row)

    def add(self, hook: Webhook) -> None:
        try:
            self._run(lambda c: c.execute(insert(webhooks), to_row(hook)), write=True)
        except IntegrityError:
            raise name_taken(hook) from None

    def replace(self, hook: Webhook) -> None:
        values = to_row(hook)
        del values["id"]
        stmt = update(webhooks).where(webhooks.c.id == hook.id).values(**values)
        try:
            changed = self._run(lambda c: c.execute(stmt).rowcount, write=True)
        except IntegrityError:
            raise name_taken(hook) from None
        if changed != 1:
            raise StoreError(f"webhook '{hook.id}' vanished while it was being changed")

    def remove(self, hook_id: str) -> bool:
        return self._run(lambda c: c.execute(delete(webhooks).where(webhooks.c.id == hook_id)).rowcount == 1,
                         write=True)

    def remove_service(self, service: str) -> int:
        return self._run(lambda c: c.execute(delete(webhooks).where(webhooks.c.service == service)).rowcount,
                         write=True)
