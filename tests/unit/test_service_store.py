"""One contract suite for the service store (memory, SQLite, PostgreSQL), and
how the config file's services are imported into it."""
from __future__ import annotations

import hashlib
import time

import pytest

from opengp.config import ServiceConfig, Settings
from opengp.core import Conflict
from opengp.jobs.publishing import import_config_file
from opengp.store.services import DELETED, STOPPED, MemoryServiceStore, ServiceRecord, SqlServiceStore
from opengp.store.sql import SqlStore

from conftest import fresh_postgres


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def services(request, tmp_path):
    if request.param == "memory":
        yield MemoryServiceStore()
        return
    jobs = SqlStore(f"sqlite:///{tmp_path}/opengp.db" if request.param == "sqlite" else fresh_postgres())
    yield SqlServiceStore(jobs.engine)
    jobs.close()


def record(name: str = "Tools", folder: str | None = "Ops", **kw) -> ServiceRecord:
    config = ServiceConfig(name=name, folder=folder, toolbox="opengp.toolboxes.demo",
                           **kw.pop("config", {}))
    now = time.time()
    return ServiceRecord(config, created=now, updated=now, **kw)


def test_add_get_list_round_trip(services):
    services.add(record(owner="pat", config={"max_instances": 3, "allowed": ["role:user"]}))
    services.add(record("Alpha", None))
    got = services.get("Ops/Tools")
    assert got.config.max_instances == 3 and got.config.allowed == ["role:user"]
    assert (got.owner, got.origin, got.state) == ("pat", "admin", "STARTED")
    assert [r.key for r in services.list()] == ["Alpha", "Ops/Tools"]
    assert services.get("Nope") is None
    with pytest.raises(Conflict):
        services.add(record())


def test_replace_and_remove_move_the_version(services):
    assert services.version() == (0, 0.0, 0.0)
    services.add(record())
    first = services.version()
    time.sleep(0.01)
    services.replace(services.get("Ops/Tools").evolve(state=STOPPED))
    assert services.get("Ops/Tools").state == STOPPED
    assert services.version() != first
    assert services.remove("Ops/Tools") is True
    assert services.remove("Ops/Tools") is False
    assert services.version()[0] == 0


def test_a_change_written_with_an_older_clock_still_moves_the_version(services):
    """A server whose clock runs behind writes an ``updated`` below the latest: still noticed."""
    services.add(record("Alpha", None).evolve(updated=time.time() + 100))   # by a server running ahead
    services.add(record())
    before = services.version()
    services.replace(services.get("Ops/Tools").evolve(state=STOPPED))       # stamped now: below Alpha's
    assert services.version()[:2] == before[:2]         # count and latest alone would miss it
    assert services.version() != before


def settings_with(*configs: dict) -> Settings:
    return Settings(services=[{"toolbox": "opengp.toolboxes.demo", **c} for c in configs])


def test_the_config_file_seeds_then_wins_only_when_it_changes(services):
    import_config_file(settings_with({"name": "A"}, {"name": "B"}), services)
    assert [(r.key, r.origin) for r in services.list()] == [("A", "config"), ("B", "config")]
    edited = services.get("A").config.model_copy(update={"max_usage_time": 5.0})
    services.replace(services.get("A").evolve(config=edited))
    import_config_file(settings_with({"name": "A"}, {"name": "B"}), services)     # unchanged file: edit kept
    assert services.get("A").config.max_usage_time == 5.0
    import_config_file(settings_with({"name": "A", "description": "new"}, {"name": "B"}), services)
    assert services.get("A").config.max_usage_time == 600.0 and services.get("A").config.description == "new"
    services.add(record("Mine", None))
    import_config_file(settings_with({"name": "A", "description": "new"}), services)   # B left the file
    assert [r.key for r in services.list()] == ["A", "Mine"]


def test_a_deleted_config_service_stays_deleted_until_its_entry_changes(services):
    import_config_file(settings_with({"name": "A"}), services)
    services.replace(services.get("A").evolve(state=DELETED))
    import_config_file(settings_with({"name": "A"}), services)
    assert services.get("A").state == DELETED
    import_config_file(settings_with({"name": "A", "max_instances": 2}), services)
    assert services.get("A").state == "STARTED"


def test_an_upgrade_to_show_messages_keeps_admin_edits_and_every_message(services):
    """A config-file service stored by the version before ``show_messages`` (its JSON without it,
    its digest taken without it) is not taken for changed, which would replace an admin edit,
    and reads as Info: its jobs' messages stay as they were."""
    entry = settings_with({"name": "A"}).services[0]
    before = ServiceConfig.model_validate_json(entry.model_dump_json(exclude={"show_messages"}))
    digest = hashlib.sha256(entry.model_dump_json(exclude={"show_messages", "max_result_bytes"}).encode()).hexdigest()
    edited = before.model_copy(update={"max_usage_time": 5.0})
    services.add(ServiceRecord(edited, origin="config", config_digest=digest, created=1.0, updated=1.0))
    import_config_file(settings_with({"name": "A"}), services)
    kept = services.get("A").config
    assert kept.max_usage_time == 5.0 and kept.show_messages.value == "Info"
