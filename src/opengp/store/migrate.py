"""Bring a database's schema up to date with Alembic (run on every store open)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


_MIGRATE_LOCK = 0x6F70656E6D67     # PostgreSQL advisory lock: servers and workers starting together


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate; on PostgreSQL under an advisory lock, so processes starting at once take turns."""
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as c:
        c.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATE_LOCK})
        c.commit()
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            c.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATE_LOCK})
            c.commit()


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)
