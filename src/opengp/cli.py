"""The ``opengp`` command: serve toolboxes, write a starter project, manage users."""
from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="opengp: publish Python functions as ArcGIS-compatible geoprocessing services.")
console = Console(stderr=True)


def _add_users_commands() -> None:
    from .cli_deployment import deployment_app
    from .cli_jobs import jobs_app
    from .cli_services import services_app
    from .cli_users import users_app

    app.add_typer(users_app, name="users")
    app.add_typer(services_app, name="services")
    app.add_typer(deployment_app, name="deployment")
    app.add_typer(jobs_app, name="jobs")


_add_users_commands()

STARTER_CONFIG = """\
# opengp configuration: see docs/toolboxes.md
[server]
host = "127.0.0.1"
port = 8000
data_dir = "opengp-data"

[[services]]
folder = "MyTools"
name = "Starter"
toolbox = "my_toolbox.py"            # a .py path relative to this file, or a module name
execution_type = "asynchronous"      # or "synchronous"
max_usage_time = 600                 # seconds
max_instances = 2
public = true                        # anyone may run it; or allowed = ["alice", "role:user"]
"""

STARTER_TOOLBOX = '''\
"""My first opengp toolbox: every @tool function is a task."""
from __future__ import annotations

from typing import Annotated

from opengp import JobContext, Param, tool


@tool(name="Greet", display_name="Greet", description="Say hello, a few times.")
def greet(
    name: Annotated[str, Param(display_name="Name", description="Who to greet")],
    times: Annotated[int, Param(display_name="Times")] = 1,
    ctx: JobContext = None,
) -> str:
    ctx.info(f"Greeting {name} {times} time(s)")
    return " ".join(f"Hello, {name}!" for _ in range(times))
'''


@app.command()
def serve(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML configuration file."),
    demo: bool = typer.Option(False, "--demo", help="Also publish the demo toolbox (Demo/Tools)."),
    host: Optional[str] = typer.Option(None, help="Interface to bind (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Port (default 8000)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where the job store and job files live."),
    workers: Optional[int] = typer.Option(None, help="Local worker processes."),
    processes: Optional[int] = typer.Option(
        None, "--processes", min=1, help="API server processes on this port (default 1). More than one "
        "only in scale-out mode: a PostgreSQL database_url, a broker_url and `opengp worker`s."),
    ssl_certfile: Optional[Path] = typer.Option(
        None, "--ssl-certfile", help="Serve HTTPS with this certificate (PEM; with --ssl-keyfile)."),
    ssl_keyfile: Optional[Path] = typer.Option(None, "--ssl-keyfile", help="The certificate's private key (PEM)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    reload: bool = typer.Option(False, "--reload", help="Development: restart the server (and its workers) "
                                "when a toolbox or the configuration file changes. Jobs running then end "
                                "as interrupted."),
) -> None:
    """Serve the configured toolboxes over HTTP."""
    from .api.serving import check_tls, serve as run_servers
    from .system.logsetup import configure_logging
    from .config import load_settings
    from .tools.registry import Registry

    if config is None and not demo:
        default = Path("opengp.toml")
        if default.exists():
            config = default
        else:
            console.print("[red]Nothing to serve:[/] pass --config FILE or --demo (or run `opengp init`).")
            raise typer.Exit(2)
    try:
        settings = load_settings(config, demo=demo, host=host, port=port, data_dir=data_dir, workers=workers,
                                 processes=processes, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
        check_tls(settings)
    except Exception as exc:
        console.print("[red]Invalid configuration:[/]", _config_error(exc))
        raise typer.Exit(2) from None
    try:
        Registry.from_settings(settings)    # a broken toolbox stops here, in one line
    except Exception as exc:
        console.print(f"[red]Cannot load toolboxes:[/] {exc}")
        raise typer.Exit(2) from None
    _check_file_store(settings)
    _first_administrator(settings, demo)       # once, before any server process starts
    try:
        from .auth.secret import load_secret

        load_secret(settings.secret_key, settings.data_dir)     # checked (or made) once, too
    except (OSError, ValueError) as exc:
        console.print(f"[red]Cannot start:[/] {exc}")
        raise typer.Exit(2) from None
    _check_deployment(settings, api_server=True)
    configure_logging(log_level, settings.log_format)
    several = f", {settings.processes} processes" if settings.processes > 1 else ""
    console.print(f"opengp serving {_published(settings)} at "
                  f"{settings.scheme}://{settings.host}:{settings.port}/arcgis/rest/services (data in {settings.data_dir}{several})")
    if reload:
        raise typer.Exit(_serve_reloading(settings, config, log_level))
    raise typer.Exit(run_servers(settings, log_level))


def _serve_reloading(settings, config: Optional[Path], log_level: str) -> int:  # type: ignore[no-untyped-def]
    """``serve --reload``: the server in a child process, started again when a Python file in a
    toolbox's folder or the configuration file changes (``watchfiles``, which uvicorn brings).
    Without it a toolbox is read once, when the server starts."""
    from watchfiles import run_process

    from .tools.registry import toolbox_file

    if settings.processes > 1:
        console.print("[red]--reload serves one process:[/] leave out --processes.")
        return 2
    files = {f.resolve() for c in settings.services if (f := toolbox_file(c.toolbox, settings.config_dir))}
    if config is not None:
        files.add(config.resolve())
    folders = {f.parent for f in files}

    def wanted(_change: object, path: str) -> bool:
        return Path(path) in files or (path.endswith(".py") and Path(path).parent in folders)

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt     # what run_process stops its server on; a plain exit would orphan it

    signal.signal(signal.SIGTERM, stop)
    console.print("reloading when these change: " + ", ".join(sorted(str(f) for f in files)), soft_wrap=True)
    run_process(*folders, target=_serve_child, args=(settings.model_dump_json(), log_level),
                watch_filter=wanted, sigint_timeout=15, callback=lambda changes: console.print(
                    "changed: " + ", ".join(sorted({path for _, path in changes})) + "; restarting", soft_wrap=True))
    return 0


def _serve_child(settings_json: str, log_level: str) -> None:
    """One run of ``serve --reload``'s server (in a spawned process)."""
    from .api.serving import serve as run_servers
    from .config import Settings
    from .system.logsetup import configure_logging

    settings = Settings.model_validate_json(settings_json)
    configure_logging(log_level, settings.log_format)
    run_servers(settings, log_level)


def _published(settings) -> str:  # type: ignore[no-untyped-def]
    """What the server will publish, by kind: the configured GP and product services with those
    published earlier through the admin API (kept in the store; less those deleted), and a
    feature service per dataset."""
    from .store import open_store
    from .store.services import DELETED, open_service_store

    configs = {c.key: c for c in settings.services}
    try:
        store = open_store(settings.store_url)
        try:
            for record in open_service_store(store).list():
                if record.state == DELETED:
                    configs.pop(record.key, None)
                else:
                    configs.setdefault(record.key, record.config)
        finally:
            store.close()
    except Exception:       # the server itself says what is wrong with the store, as it starts
        pass
    products = sum(1 for c in configs.values() if c.is_product)
    counts = [(len(configs) - products, "GP service"), (products, "product service"),
              (len(settings.datasets), "feature service")]
    said = [f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in counts]
    return ", ".join(said[:-1]) + " and " + said[-1]


def _check_file_store(settings) -> None:  # type: ignore[no-untyped-def]
    """Object storage (``files_url``) that cannot be used stops a server or worker here, in a line."""
    if not settings.files_url:
        return
    from rich.markup import escape

    from .runtime.storage import open_file_store

    try:
        open_file_store(settings).check()
    except Exception as exc:
        console.print("[red]Cannot use the file store:[/]", escape(str(exc)))
        raise typer.Exit(2) from None


def _config_error(exc: Exception) -> str:
    """A settings error in a line or two: pydantic's messages without the whole input echoed."""
    from pydantic import ValidationError
    from rich.markup import escape

    if isinstance(exc, ValidationError):
        text = "; ".join((".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "")
                         + e["msg"].removeprefix("Value error, ") for e in exc.errors())
    else:
        text = str(exc)
    return escape(text)


def _check_deployment(settings, *, api_server: bool) -> None:  # type: ignore[no-untyped-def]
    """Machines of one deployment must share some settings: refuse to start on a difference."""
    from .cli_deployment import deployment_facts
    from .store import open_store
    from .store.deployment import DeploymentMismatch, open_deployment_record

    facts = deployment_facts(settings, api_server=api_server)
    if not facts:
        return
    store = open_store(settings.store_url)
    try:
        open_deployment_record(store).check(facts)
    except DeploymentMismatch as exc:
        console.print(f"[red]Cannot start:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        store.close()


def _first_administrator(settings, demo: bool) -> None:  # type: ignore[no-untyped-def]
    """No server runs without an administrator, and none has a default password."""
    from .auth.bootstrap import ADMIN, NoAdministrator, ensure_admin
    from .system.files import private_data_dir
    from .store import open_store
    from .store.users import open_user_store

    private_data_dir(settings.data_dir)
    store = open_store(settings.store_url)
    try:
        done = ensure_admin(open_user_store(store), settings.data_dir, demo=demo, prompt=lambda: typer.prompt(
            f"Password for the first administrator '{ADMIN}'", hide_input=True, confirmation_prompt=True),
            lock=store.lock("bootstrap"))       # servers starting together: one makes it
    except (NoAdministrator, ValueError) as exc:
        console.print(f"[red]Cannot start:[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    if done.created:
        console.print(f"created the administrator [bold]{ADMIN}[/]")
    if done.demo_password_file is not None:
        # where the password is, not the password: logs never hold secrets
        console.print(f"demo administrator: user [bold]{ADMIN}[/], password: "
                      f"cat {done.demo_password_file}", soft_wrap=True)   # a path stays copyable


@app.command()
def worker(
    config: Optional[Path] = typer.Option(None, "--config", help="TOML configuration file (as the servers')."),
    demo: bool = typer.Option(False, "--demo", help="Also the demo's settings (its datasets), as `serve --demo`."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Job files: the folder the servers use."),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="PostgreSQL URL (as the servers')."),
    broker_url: Optional[str] = typer.Option(None, "--broker-url", help="amqp://... (RabbitMQ) or redis://..."),
    concurrency: int = typer.Option(max(1, os.cpu_count() or 1), "--concurrency", "-c", min=1,
                                    help="Jobs run at once (pool processes); default: the CPU count."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run jobs from the broker (scale-out mode): a Celery worker on this machine."""
    from .config import load_settings

    if config is None and Path("opengp.toml").exists():
        config = Path("opengp.toml")
    try:
        settings = load_settings(config, demo=demo, data_dir=data_dir, database_url=database_url,
                                 broker_url=broker_url)
    except Exception as exc:
        console.print("[red]Invalid configuration:[/]", _config_error(exc))
        raise typer.Exit(2) from None
    if not settings.scale_out:
        console.print("[red]No broker:[/] a worker needs broker_url (--broker-url, OPENGP_BROKER_URL or "
                      "broker_url in \\[server]) and a PostgreSQL database_url shared with the servers.")
        raise typer.Exit(2)
    try:
        from .executors.celery_app import run_worker
    except ImportError as exc:
        console.print(f"[red]Celery is not installed[/] ({exc}): pip install 'opengp[scaleout]'")
        raise typer.Exit(2) from None
    from .system.files import private_data_dir

    private_data_dir(settings.data_dir)
    _check_file_store(settings)
    _check_deployment(settings, api_server=False)
    from .system.logsetup import configure_logging

    configure_logging(log_level, settings.log_format)
    console.print(f"opengp worker: {concurrency} process(es), queues {settings.queue_prefix}.*, "
                  f"data in {settings.data_dir}")
    raise typer.Exit(run_worker(settings, concurrency, log_level))


@app.command()
def init(directory: Path = typer.Argument(Path("."), help="Where to write the files.")) -> None:
    """Write a starter opengp.toml and my_toolbox.py (the README's tutorial)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("opengp.toml", STARTER_CONFIG), ("my_toolbox.py", STARTER_TOOLBOX)):
        path = directory / name
        if path.exists():
            console.print(f"[yellow]kept[/] {path} (already exists)")
            continue
        path.write_text(text)
        console.print(f"[green]wrote[/] {path}")
    console.print(f"Next: cd {directory} && OPENGP_ADMIN_PASSWORD='choose one' {_this_command(directory)} serve",
                  soft_wrap=True)
    console.print("(the first administrator's password, needed only the first time)")


def _this_command(directory: Path) -> str:
    """How to run this very ``opengp`` from ``directory``: plain ``opengp`` when the shell finds
    this one, else its path (a virtualenv's bin/ is seldom on PATH)."""
    here = Path(sys.executable).parent / "opengp"
    if not here.is_file():
        return f"{sys.executable} -m opengp"
    found = shutil.which("opengp")
    if found is not None and Path(found).resolve() == here.resolve():
        return "opengp"
    cwd, target = Path.cwd(), directory.resolve()
    if cwd in here.parents and (target == cwd or cwd in target.parents):    # the README's way: the
        return os.path.relpath(here, target)                # checkout's .venv, the project beside it
    return str(here)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
