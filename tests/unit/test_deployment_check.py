"""The settings machines of a deployment must share: recorded by the first, compared by the rest."""
from __future__ import annotations

import pytest

from opengp.store.deployment import (
    DeploymentMismatch, accept, check, files_fact, folder_fact, queue_fact, secret_fact,
)
from opengp.store.sql import SqlStore

from conftest import fresh_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/opengp.db" if request.param == "sqlite" else fresh_postgres())
    yield store.engine
    store.close()


def test_the_first_machine_records_and_the_same_settings_pass(engine, tmp_path):
    facts = [secret_fact(b"s" * 32), queue_fact("opengp"), folder_fact(tmp_path / "shared")]
    check(engine, facts)
    check(engine, [secret_fact(b"s" * 32), queue_fact("opengp"), folder_fact(tmp_path / "shared")])


def test_a_different_secret_is_refused_naming_it_without_revealing_it(engine, tmp_path):
    check(engine, [secret_fact(b"s" * 32), queue_fact("opengp")])
    with pytest.raises(DeploymentMismatch) as err:
        check(engine, [secret_fact(b"t" * 32), queue_fact("opengp")])
    text = str(err.value)
    assert "secret_key" in text and "tokens" in text and "queue_prefix" not in text
    assert "t" * 32 not in text and "s" * 32 not in text


def test_another_data_dir_is_not_the_shared_folder(engine, tmp_path):
    check(engine, [folder_fact(tmp_path / "shared")])
    with pytest.raises(DeploymentMismatch, match="shared folder"):
        check(engine, [folder_fact(tmp_path / "local")])
    check(engine, [folder_fact(tmp_path / "shared")])      # the shared one still passes


def test_with_object_storage_the_bucket_is_what_machines_share(engine):
    check(engine, [files_fact("s3://files/prod")])
    check(engine, [files_fact("s3://files/prod")])
    with pytest.raises(DeploymentMismatch, match="files_url.*another"):
        check(engine, [files_fact("s3://files/test")])


def test_a_machine_checks_only_what_it_has_and_records_new_settings(engine, tmp_path):
    check(engine, [queue_fact("a")])                        # a worker: no secret
    check(engine, [secret_fact(b"s" * 32), queue_fact("a")])    # the first API server adds it
    with pytest.raises(DeploymentMismatch, match="secret_key"):
        check(engine, [secret_fact(b"x" * 32)])


def test_accept_records_a_deliberate_change(engine):
    check(engine, [secret_fact(b"s" * 32), queue_fact("a")])
    accept(engine, [secret_fact(b"n" * 32)])
    check(engine, [secret_fact(b"n" * 32), queue_fact("a")])
    with pytest.raises(DeploymentMismatch):
        check(engine, [secret_fact(b"s" * 32)])


def test_a_folder_mark_being_written_by_another_machine_is_waited_for(tmp_path):
    """Machines starting together: one has created deployment.id and not yet written it."""
    import threading

    from opengp.store.deployment import FOLDER_MARK, folder_fact

    (tmp_path / FOLDER_MARK).touch()
    threading.Timer(0.2, lambda: (tmp_path / FOLDER_MARK).write_text("c" * 32)).start()
    assert folder_fact(tmp_path).value == "c" * 32


def test_the_command_line_reads_and_writes_the_record_through_the_store(tmp_path):
    """``opengp serve``/``worker``/``deployment`` never touch the store's engine
    (tests/unit/test_store_seams.py): the record opens beside the job store."""
    from opengp.store import MemoryStore
    from opengp.core import StoreError
    from opengp.store.deployment import open_deployment_record

    store = SqlStore(f"sqlite:///{tmp_path}/opengp.db")
    try:
        record = open_deployment_record(store)
        record.check([queue_fact("opengp")])
        with pytest.raises(DeploymentMismatch):
            record.check([queue_fact("other")])
        record.accept([queue_fact("other")])
        assert [(r.name, r.value) for r in record.recorded()] == [("queue_prefix", "other")]
    finally:
        store.close()
    with pytest.raises(StoreError, match="SQL job store"):
        open_deployment_record(MemoryStore())
