"""Every migration is reversible: down to nothing and back up leaves the same tables."""
from __future__ import annotations

from sqlalchemy import create_engine, inspect

from opengp.store.migrate import downgrade, upgrade


def test_migrations_go_down_and_up_again(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"jobs", "users", "revoked_tokens", "services"} <= tables
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()
