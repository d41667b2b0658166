"""``opengp services``: the published services as the store holds them.

The store, not the config file, is what a server publishes once it has
started (the admin API changes it), so this reads the store: the same
``--config`` and ``--data-dir`` as ``opengp serve``, even while it runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import orjson
import typer
from rich.console import Console
from rich.table import Table

from .cli_users import ConfigOpt, DataDirOpt, _fail, job_store
from .jobs.publishing import service_json
from .store.services import ServiceRecord, open_service_store

services_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Show the published services and their state.")


def _records(config: Optional[Path], data_dir: Optional[Path]) -> list[ServiceRecord]:
    with job_store(config, data_dir) as store:
        return open_service_store(store).list()


@services_app.command("list")
def list_(config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """One line per service: state, execution type, limits, owner and where it came from."""
    records = _records(config, data_dir)
    if not records:
        Console(stderr=True).print("No services stored yet: `opengp serve` publishes the config file's "
                                   "services when it starts.")
        return
    table = Table("service", "state", "execution", "max usage (s)", "max instances", "retention (s)",
                  "access", "owner", "from", "toolbox")
    for r in records:
        c = r.config
        access = "public" if c.public else ", ".join(c.allowed) or "administrators"
        table.add_row(c.key, r.state, c.execution_type, f"{c.max_usage_time:g}",
                      str(c.max_instances or "-"), f"{c.retention:g}", access, r.owner or "-",
                      "config file" if r.origin == "config" else "admin API", c.toolbox)
    Console(width=200).print(table)


@services_app.command("show")
def show(key: str = typer.Argument(..., help="Folder/Name, or Name for a service in the root folder."),
         config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """The service's admin JSON, as GET /arcgis/admin/services/<key>.GPServer answers it (without tasks)."""
    record = next((r for r in _records(config, data_dir) if r.key == key.strip("/")), None)
    if record is None:
        _fail(f"No service '{key}'.")
    data = service_json(record, None)
    data.pop("tasks")
    data.pop("realTimeState")
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
