"""Publishing services: what the store holds, what the registry serves, and
the admin operations (create, edit, start, stop, delete) that change both.

The config file seeds the store: a file entry that is new, or changed since
it was last imported, replaces the stored one; a file entry that is removed
unpublishes its service.  Everything else (admin edits, services created over
the API) lives in the store, so it survives restarts and reaches every server.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import ServiceConfig, Settings
from ..core import Conflict, FileStoreError, InvalidInput, NotFound
from ..store import JobQuery
from ..store.services import DELETED, STARTED, STOPPED, ServiceRecord, ServiceStore
from ..store.webhooks import WebhookStore
from ..tools.registry import Service, load_service
from .operations import AdminOperations, Operation, Stage
from .service import JobService

log = logging.getLogger("opengp.services")
_EXECUTION = {"asynchronous": "Asynchronous", "synchronous": "Synchronous"}
_READ_ONLY = {"type", "configuredState", "realTimeState", "owner", "origin", "tasks", "error", "url"}


# Settings added after services were first stored: left out of the digest while at their default,
# so an upgrade does not take every config file entry for changed (and replace admin edits).
_LATER = frozenset({"max_result_bytes", "show_messages"})


def _digest(config: ServiceConfig) -> str:
    later = {name for name in _LATER if getattr(config, name) == ServiceConfig.model_fields[name].default}
    return hashlib.sha256(config.model_dump_json(exclude=later).encode()).hexdigest()


def import_config_file(settings: Settings, store: ServiceStore) -> None:
    """Bring the store in line with the config file's services (see the module docstring)."""
    now = time.time()
    in_file = {c.key: c for c in settings.services}
    stored = {r.key: r for r in store.list()}
    for key, config in in_file.items():
        digest, record = _digest(config), stored.get(key)
        if record is None:
            store.add(ServiceRecord(config, origin="config", config_digest=digest, created=now, updated=now))
        elif record.config_digest != digest:
            log.info("service %s: the config file changed; its settings replace the stored ones", key)
            state = STARTED if record.state == DELETED else record.state
            store.replace(record.evolve(config=config, origin="config", config_digest=digest, state=state))
    for key, record in stored.items():
        if record.origin == "config" and key not in in_file:        # tombstones go too
            log.warning("service %s is no longer in the config file: unpublished", key)
            store.remove(key)


# -- the admin JSON of a service ---------------------------------------------
def service_json(record: ServiceRecord, service: Service | None, error: str | None = None) -> dict[str, Any]:
    """ArcGIS's admin service JSON, plus opengp's own settings (documented in docs/admin.md)."""
    c = record.config
    running = service is not None and service.started
    out = {
        "serviceName": c.name, "folderName": c.folder or "/", "type": "GPServer",
        "description": (service.config.description if service else None) or c.description,
        "configuredState": record.state, "realTimeState": STARTED if running else STOPPED,
        "maxUsageTime": c.max_usage_time, "maxInstancesPerNode": c.max_instances,
        "public": c.public, "allowed": list(c.allowed), "owner": record.owner, "origin": record.origin,
        "properties": {"toolbox": c.toolbox, "executionType": _EXECUTION[c.execution_type],
                       "retention": c.retention, "retries": c.retries, "maxResultBytes": c.max_result_bytes,
                       "showMessages": c.show_messages.value},
        "tasks": list(service.tools) if service else [],
    }
    if error:
        out["error"] = error
    return out


_ADMIN_NAMES = {"name": "serviceName", "folder": "folderName", "max_usage_time": "maxUsageTime",
                "max_instances": "maxInstancesPerNode", "execution_type": "properties.executionType",
                "toolbox": "properties.toolbox", "retention": "properties.retention", "retries": "properties.retries",
                "max_result_bytes": "properties.maxResultBytes", "show_messages": "properties.showMessages"}


def _invalid(exc: ValidationError) -> InvalidInput:
    def where(loc: tuple[Any, ...]) -> str:
        return ".".join(_ADMIN_NAMES.get(str(p), str(p)) for p in loc) or "service"

    details = [f"{where(e['loc'])}: {e['msg']}" for e in exc.errors()]
    return InvalidInput("Invalid service definition.", details)


def config_from_json(payload: Any, current: ServiceConfig | None, folder: str | None = None) -> ServiceConfig:
    """A ServiceConfig from admin JSON: a whole definition (create) or changes to ``current`` (edit)."""
    if not isinstance(payload, dict):
        raise InvalidInput("Invalid service definition.", ["'service' must be a JSON object."])
    fields: dict[str, Any] = current.model_dump() if current else {"folder": folder}
    unknown: list[str] = []
    for key, value in payload.items():
        if key == "serviceName":
            fields["name"] = value
        elif key == "folderName":
            fields["folder"] = None if value in (None, "", "/") else value
        elif key == "description":
            fields["description"] = value if value is not None else ""
        elif key == "maxUsageTime":
            fields["max_usage_time"] = value
        elif key == "maxInstancesPerNode":
            fields["max_instances"] = value
        elif key in ("public", "allowed"):
            fields[key] = value
        elif key == "properties":
            if not isinstance(value, dict):
                raise InvalidInput("Invalid service definition.", ["'properties' must be a JSON object."])
            for prop, v in value.items():
                if prop == "executionType":
                    text = str(v).lower().removeprefix("esriexecutiontype")
                    if text not in _EXECUTION:
                        raise InvalidInput("Invalid service definition.", [
                            f"properties.executionType must be Asynchronous or Synchronous, not {v!r}."])
                    fields["execution_type"] = text
                elif prop in ("toolbox", "retention", "retries"):
                    fields[prop] = v
                elif prop == "maxResultBytes":
                    fields["max_result_bytes"] = v
                elif prop == "showMessages":
                    fields["show_messages"] = v
                else:
                    unknown.append(f"properties.{prop}")
        elif key == "type":
            if value != "GPServer":
                raise InvalidInput("Invalid service definition.", [f"Only GPServer services can be published, not {value!r}."])
        elif key not in _READ_ONLY:
            unknown.append(key)
    if unknown:
        raise InvalidInput("Invalid service definition.", [
            f"Unknown setting(s): {', '.join(sorted(unknown))}. Settable: serviceName, folderName, description, "
            "maxUsageTime, maxInstancesPerNode, public, allowed, properties.toolbox, properties.executionType, "
            "properties.retention, properties.retries, properties.maxResultBytes, properties.showMessages."])
    if current is not None and (fields.get("name"), fields.get("folder")) != (current.name, current.folder):
        raise InvalidInput("Invalid service definition.", ["A service cannot be renamed or moved by 'edit'."])
    if "name" not in fields or not fields["name"]:
        raise InvalidInput("Invalid service definition.", ["'serviceName' is required."])
    try:
        return ServiceConfig(**fields)
    except ValidationError as exc:
        raise _invalid(exc) from None


class ServiceManager:
    """Publishes services from the store into the registry, and changes them as admin jobs."""

    def __init__(self, jobs: JobService, store: ServiceStore, settings: Settings, webhooks: WebhookStore) -> None:
        self.jobs, self.store, self.settings, self.webhooks = jobs, store, settings, webhooks
        self.registry = jobs.registry
        self.ops = AdminOperations(jobs.store, jobs.io)
        self.broken: dict[str, str] = {}          # stored services whose toolbox did not load
        self._version: tuple[int, float] | None = None
        self._refreshing = asyncio.Lock()     # one refresh at a time: a second caller waits for the first
        self._begun = self._ended = 0           # catch_up's refreshes, by number
        self._current: asyncio.Future[None] | None = None
        self._failure_logged = 0.0
        # the stored config each registry entry was published from: load_service fills in an empty
        # description from the toolbox, so the entry's own config cannot tell a changed description
        self._sources: dict[str, ServiceConfig] = {}

    @property
    def base(self) -> Path:
        return self.settings.config_dir

    # -- publishing what the store holds ---------------------------------
    def load(self) -> None:
        """Publish every stored service (at start).  A toolbox that fails to load is
        logged and listed as broken; the rest are served."""
        self._version = self.store.version()
        for record in self.records():
            self._publish(record)

    def _publish(self, record: ServiceRecord) -> None:
        try:
            service = load_service(record.config, self.base)
        except Exception as exc:
            log.error("service %s not published: %s", record.key, exc)
            self.broken[record.key] = str(exc)
            self.registry.remove(record.key)
            return
        self.broken.pop(record.key, None)
        self._put(service, record.config, state=record.state, owner=record.owner)

    def _put(self, service: Service, source: ServiceConfig, **changes: Any) -> None:
        """Publish ``service``, loaded from the stored ``source``, with ``changes`` (state, owner)."""
        self._sources[service.key] = source
        self.registry.put(dataclasses.replace(service, **changes))

    async def refresh(self) -> bool:
        """Pick up changes another server (or the CLI) made to the store; True if any.
        Services with an operation in progress here are left to that operation."""
        async with self._refreshing:
            return await self._refresh()

    async def catch_up(self) -> None:
        """Return once a refresh that began after this call has ended.  Requests arriving
        together share one (a store query each would queue behind the lock); a failure is
        logged (at most every 10 s) and the caller goes on with what it has."""
        wanted = self._begun + 1
        while self._ended < wanted:
            if self._current is None:
                self._begun += 1
                self._current = asyncio.ensure_future(self._refresh_as(self._begun))
            await asyncio.shield(self._current)

    async def _refresh_as(self, generation: int) -> None:
        try:
            await self.refresh()
        except Exception:       # the periodic refresh retries
            now = time.monotonic()
            if now - self._failure_logged > 10:
                self._failure_logged = now
                log.warning("reading service changes from the store failed", exc_info=True)
        finally:
            self._ended, self._current = generation, None

    async def _refresh(self) -> bool:
        version = await self.jobs.io(self.store.version)
        if version == self._version:
            return False
        self._version = version
        records = {r.key: r for r in await self.jobs.io(self.store.list) if r.state != DELETED}
        for key in list(self.registry.services) + list(self.broken):
            if key not in records and not self.ops.busy(key):
                self.registry.remove(key)
                self.broken.pop(key, None)
        for key, record in records.items():
            current = self.registry.services.get(key)
            if self.ops.busy(key):
                continue
            if current is None or self._sources.get(key) != record.config or (
                    current.state, current.owner) != (record.state, record.owner):
                await asyncio.to_thread(self._publish, record)
        self.jobs.executor.services_changed()
        return True

    # -- reading -----------------------------------------------------------
    def record(self, key: str) -> ServiceRecord:
        record = self.store.get(key)
        if record is None or record.state == DELETED:
            raise NotFound(f"Service '{key}.GPServer' does not exist.")
        return record

    def records(self) -> list[ServiceRecord]:
        return [r for r in self.store.list() if r.state != DELETED]

    def describe(self, key: str) -> dict[str, Any]:
        return service_json(self.record(key), self.registry.services.get(key), self.broken.get(key))

    # -- operations --------------------------------------------------------
    # Each checks its input at once (so a bad request is refused before any job
    # exists), then re-reads the service when its turn comes: operations on one
    # service queue behind each other, and each must build on the last.
    def create(self, payload: Any, folder: str | None, owner: str | None, uri: str) -> Operation:
        config = config_from_json(payload, None, folder)
        if folder is not None and config.folder != folder:
            raise InvalidInput("Invalid service definition.", [
                f"folderName {config.folder or '/'!r} differs from the folder in the URL ({folder!r})."])
        key = config.key
        self._not_taken(key)
        loaded: list[Service] = []
        tombstone: list[ServiceRecord | None] = [None]
        record = ServiceRecord(config, owner=owner, origin="admin", created=time.time(), updated=time.time())

        async def validate() -> None:
            tombstone[0] = self._not_taken(key)
            loaded.append(await asyncio.to_thread(load_service, config, self.base))

        async def write() -> None:
            if tombstone[0] is None:
                await self.jobs.io(self.store.add, record)
            else:       # a deleted config-file service of the same name: this one takes its place
                # (keeping the digest, so the unchanged file entry does not take it back at restart)
                await self.jobs.io(self.store.replace, record.evolve(config_digest=tombstone[0].config_digest))

        async def unwrite() -> None:
            if tombstone[0] is None:
                await self.jobs.io(self.store.remove, key)
            else:
                await self.jobs.io(self.store.replace, tombstone[0])

        async def start() -> None:
            self._put(loaded[0], config, state=STARTED, owner=owner)
            self._services_changed()

        return Operation("createService", key, uri, {"service": payload}, [
            Stage("validating", validate), Stage("writing configuration", write, unwrite, commit=True),
            Stage("starting", start)], result=lambda: self._after(key), owner=owner)

    def edit(self, key: str, payload: Any, owner: str | None, uri: str) -> Operation:
        config_from_json(payload, self.record(key).config)
        before: list[ServiceRecord] = []
        configs: list[ServiceConfig] = []
        loaded: list[Service] = []

        async def validate() -> None:
            before.append(self.record(key))
            configs.append(config_from_json(payload, before[0].config))
            loaded.append(await asyncio.to_thread(load_service, configs[0], self.base))

        async def write() -> None:
            await self.jobs.io(self.store.replace, before[0].evolve(config=configs[0]))

        async def unwrite() -> None:
            await self.jobs.io(self.store.replace, before[0])

        async def restart() -> None:
            self.broken.pop(key, None)
            self._put(loaded[0], configs[0], state=before[0].state, owner=before[0].owner)
            self._services_changed()

        return Operation("edit", key, uri, {"service": payload}, [
            Stage("validating", validate), Stage("writing configuration", write, unwrite, commit=True),
            Stage("restarting", restart)], result=lambda: self._after(key), owner=owner)

    def start(self, key: str, owner: str | None, uri: str) -> Operation:
        self.record(key)
        before: list[ServiceRecord] = []
        loaded: list[Service] = []

        async def validate() -> None:
            before.append(self.record(key))
            current = self.registry.services.get(key)
            loaded.append(current if current is not None else
                          await asyncio.to_thread(load_service, before[0].config, self.base))

        async def write() -> None:
            await self.jobs.io(self.store.replace, before[0].evolve(state=STARTED))

        async def unwrite() -> None:
            await self.jobs.io(self.store.replace, before[0])

        async def start() -> None:
            self.broken.pop(key, None)
            self._put(loaded[0], before[0].config, state=STARTED, owner=before[0].owner)
            self._services_changed()

        return Operation("start", key, uri, {}, [
            Stage("validating", validate), Stage("writing configuration", write, unwrite, commit=True),
            Stage("starting", start)], result=lambda: self._after(key), owner=owner)

    def _stopping(self, key: str, before: list[ServiceRecord]) -> Stage:
        """The stage that stops a service (keeping its record as it was in ``before``), undone
        by giving it back its state: the first of stop and delete."""
        async def stop() -> None:
            before.append(self.record(key))
            self._set_state(key, STOPPED)

        async def unstop() -> None:
            self._set_state(key, before[0].state)

        return Stage("stopping the service", stop, unstop)

    def stop(self, key: str, owner: str | None, uri: str) -> Operation:
        self.record(key)
        before: list[ServiceRecord] = []

        async def write() -> None:
            await self.jobs.io(self.store.replace, before[0].evolve(state=STOPPED))
            self._services_changed()

        async def unwrite() -> None:
            await self.jobs.io(self.store.replace, before[0])

        return Operation("stop", key, uri, {}, [
            self._stopping(key, before),
            Stage("writing configuration", write, unwrite, commit=True)],
            result=lambda: self._after(key), owner=owner)

    def delete(self, key: str, owner: str | None, uri: str) -> Operation:
        self.record(key)
        before: list[ServiceRecord] = []
        removed: list[int] = []

        async def remove() -> None:
            if before[0].origin == "config":     # a tombstone, so the config file does not bring it back
                await self.jobs.io(self.store.replace, before[0].evolve(state=DELETED))
            else:
                await self.jobs.io(self.store.remove, key)

        async def restore() -> None:
            if before[0].origin == "config":
                await self.jobs.io(self.store.replace, before[0])
            else:
                await self.jobs.io(self.store.add, before[0])

        async def unpublish() -> None:
            self.registry.remove(key)
            self.broken.pop(key, None)
            self._services_changed()
            removed.append(await self._remove_jobs(key))
            # its webhooks too: a service published later under the name starts without them
            await self.jobs.io(self.webhooks.remove_service, key)
            log.info("service %s deleted with its %d job(s)", key, removed[0])

        def deleted() -> dict[str, Any]:
            """What went: the service, named as ArcGIS lists services, and how many of its jobs."""
            config = before[0].config
            return {"deleted": {"folderName": config.folder or "/", "serviceName": config.name, "type": "GPServer",
                                "jobs": removed[0] if removed else 0}}

        return Operation("delete", key, uri, {}, [
            self._stopping(key, before),
            Stage("removing configuration", remove, restore, commit=True),
            Stage("removing its jobs", unpublish)], result=deleted, owner=owner)

    # -- helpers ---------------------------------------------------------------
    def _after(self, key: str) -> dict[str, Any]:
        """What a create, edit, start or stop reports: the service's JSON after it, under
        ``service``, as ArcGIS's synchronous answer carries it (api/admin/dialect.operation_answer)."""
        return {"service": self.describe(key)}

    def _not_taken(self, key: str) -> ServiceRecord | None:
        """Conflict if the key is in use; returns the tombstone of a deleted config-file service."""
        record = self.store.get(key)
        if record is not None and record.state != DELETED:
            raise Conflict(f"Service '{key}.GPServer' already exists.")
        return record

    def _set_state(self, key: str, state: str) -> None:
        service = self.registry.services.get(key)
        if service is not None:
            self.registry.put(dataclasses.replace(service, state=state))

    async def _remove_jobs(self, key: str) -> int:
        """A deleted service takes its jobs and their files with it (as ArcGIS's jobs
        directory goes), so a service published later under the name starts empty."""
        removed = 0
        for kind in ("gp", "product"):
            while True:
                _, batch = await self.jobs.query_async(JobQuery(service=key, kind=kind, limit=500))
                if not batch:
                    break
                for job in batch:
                    try:
                        await self.jobs.delete(job.id)       # cancels it first if it still runs
                    except FileStoreError as exc:
                        # past the commit stage the service is gone and must stay gone (an undo would
                        # bring it back half-emptied): what is left goes with the retention sweep
                        log.warning("service %s deleted, but its remaining jobs stay until they expire: %s",
                                    key, exc)
                        return removed
                    removed += 1
        return removed

    def _services_changed(self) -> None:
        """After a change made here: re-read the store once at the next refresh, and tell the executor."""
        self._version = None
        self.jobs.executor.services_changed()
