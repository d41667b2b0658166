"""``opengp deployment``: the settings every machine of a scale-out deployment must share.

``opengp serve`` and ``opengp worker`` compare them with the deployment's at start
(store/deployment.py); ``accept`` records this machine's after a deliberate change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from .auth.secret import load_secret
from .config import Settings, load_settings
from .store import open_store
from .store.deployment import Fact, files_fact, folder_fact, open_deployment_record, queue_fact, secret_fact
from .cli_users import ConfigOpt, DataDirOpt, _fail

deployment_app = typer.Typer(add_completion=False, no_args_is_help=True,
                             help="The settings every machine of a scale-out deployment must share.")


def deployment_facts(settings: Settings, *, api_server: bool) -> list[Fact]:
    """What this machine must share with the others: nothing without a broker (one machine)."""
    if not settings.scale_out:
        return []
    # with object storage each machine's data_dir is its own: the bucket is what they share
    place = files_fact(settings.files_url) if settings.files_url else folder_fact(settings.data_dir)
    facts = [queue_fact(settings.queue_prefix), place]
    if api_server:          # workers issue and check no tokens
        facts.insert(0, secret_fact(load_secret(settings.secret_key, settings.data_dir)))
    return facts


def _settings(config: Optional[Path], data_dir: Optional[Path]) -> Settings:
    if config is None and Path("opengp.toml").exists():
        config = Path("opengp.toml")
    try:
        return load_settings(config, data_dir=data_dir)
    except Exception as exc:
        _fail(f"Invalid configuration: {exc}")
        raise


@deployment_app.command()
def accept(config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Record this machine's settings as the deployment's (after changing them on every machine)."""
    settings = _settings(config, data_dir)
    facts = deployment_facts(settings, api_server=True)
    if not facts:
        _fail("No broker_url: a single-machine server has nothing to share.")
    store = open_store(settings.store_url)
    try:
        open_deployment_record(store).accept(facts)
    finally:
        store.close()
    Console(stderr=True).print("recorded: " + ", ".join(f.name for f in facts))


@deployment_app.command()
def show(config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """The recorded settings (the secret only as a digest), and who recorded them."""
    settings = _settings(config, data_dir)
    store = open_store(settings.store_url)
    try:
        rows = open_deployment_record(store).recorded()
    finally:
        store.close()
    table = Table("setting", "value", "recorded by", "recorded at (UTC)")
    import datetime as dt

    for r in rows:
        at = dt.datetime.fromtimestamp(r.recorded_at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r.name, r.value, r.recorded_by, at)
    Console(width=160).print(table)
