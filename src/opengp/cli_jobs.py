"""``opengp jobs``: list, show, submit, watch, cancel and delete a server's jobs, and fetch
their results, over HTTP (``cli_remote``), signed in with a token or a user and password.

What scripts read goes to stdout (job ids, tables, ``--json``); the live view, notes and
errors go to stderr.  Exit codes: 0 done, 1 the server refused or could not be reached (its
message in one line), 2 a usage error; ``watch`` (and ``submit --watch``) exit with the job's
outcome (``cli_watch.EXIT_CODES``).  docs/operations.md has the whole story.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_remote import ADMIN_SERVICES, JobRef, Remote, RemoteError, UsageError, service_url
from .cli_watch import INTERRUPTED, watch as watch_job

jobs_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Work with a server's jobs over HTTP: list, show, submit, watch, cancel, delete, results.")
err = Console(stderr=True, highlight=False)
DEFAULT_URL = "http://127.0.0.1:8000"       # where `opengp serve` listens unless told otherwise
SHORT = 100                                 # characters of a value a table shows

UrlOpt = typer.Option(DEFAULT_URL, "--url", envvar="OPENGP_URL", show_envvar=True,
                      help="The server (http://host:port, or any URL under its /arcgis).")
TokenOpt = typer.Option(None, "--token", envvar="OPENGP_TOKEN", show_envvar=True,
                        help="A token of the server's (generateToken); or sign in with --user.")
UserOpt = typer.Option(None, "--user", "-u", envvar="OPENGP_USER", show_envvar=True,
                       help="Sign in as this user (password from --password-file, OPENGP_PASSWORD or a prompt).")
PasswordFileOpt = typer.Option(None, "--password-file", help="A file whose first line is --user's password.")
JsonOpt = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")


@contextmanager
def _session(url: str, token: Optional[str], user: Optional[str], password_file: Optional[Path]) -> Iterator[Remote]:
    """A signed-in session; each failure ends the command in one line with its exit code."""
    try:
        if token and user:
            raise UsageError("Pass --token or --user, not both (OPENGP_TOKEN and OPENGP_USER count too).")
        password = _password(password_file, user) if user else None
        with Remote(url, token=token or None, user=user, password=password) as remote:
            yield remote
    except UsageError as exc:
        _fail(str(exc), 2)
    except RemoteError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(INTERRUPTED) from None


def _password(password_file: Optional[Path], user: str) -> str:
    """From ``--password-file`` (its first line), else ``OPENGP_PASSWORD``, else asked on the
    terminal; never from the command line, where others could read it."""
    if password_file is not None:
        try:
            lines = password_file.read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"Cannot read --password-file: {exc.strerror or exc}") from None
        if not lines or not lines[0]:
            raise UsageError(f"--password-file {password_file} is empty.")
        return lines[0]
    password = os.environ.get("OPENGP_PASSWORD")
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise UsageError(f"No password for {user}: pass --password-file FILE or set OPENGP_PASSWORD.")
    return str(typer.prompt(f"Password for {user}", hide_input=True))


def _fail(text: str, code: int) -> None:
    err.print(f"[red]error:[/] {escape(text)}", soft_wrap=True)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _when(ms: Any) -> str:
    """Epoch milliseconds as UTC, to the second; '-' for none."""
    if not isinstance(ms, (int, float)) or ms <= 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= SHORT else text[:SHORT - 1] + "…"


def _label(status: Any) -> str:
    return str(status or "").removeprefix("esriJob")


# -- list ------------------------------------------------------------------------------------

@jobs_app.command("list")
def list_(
    service: str = typer.Argument(..., help="The GP service: Folder/Name, or Name in the root folder."),
    status: Optional[str] = typer.Option(None, "--status", help="Only jobs in this status (Failed, esriJobFailed...)."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Only jobs submitted by this user."),
    since: Optional[str] = typer.Option(None, "--since", help="Submitted at or after: yyyy-mm-ddThh:mm:ss (UTC "
                                        "unless an offset is given) or seconds since the epoch."),
    until: Optional[str] = typer.Option(None, "--until", help="Submitted before (as --since); default now."),
    number: Optional[int] = typer.Option(None, "--number", "-n", help="Jobs per page (1-10000; default 10)."),
    start: Optional[int] = typer.Option(None, "--start", help="First job of the page, from 1."),
    as_json: bool = JsonOpt, url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """A page of a service's jobs, newest first.

    The admin API's jobs query: for administrators, and publishers for their services."""
    query = {"jobStatus": status, "userName": owner, "startTime": since, "endTime": until, "number": number,
             "start": start}
    with _session(url, token, user, password_file) as remote:
        base = f"{ADMIN_SERVICES}/{quote(service.strip('/'))}.GPServer/jobs"
        page = remote.get(f"{base}/query", **{k: v for k, v in query.items() if v is not None})
        if as_json:
            _print_json(page)
            return
        listed: dict[str, Any] = page.get("results") or {}
        with ThreadPoolExecutor(max_workers=8) as pool:      # the query names the jobs; each record says more
            records = list(pool.map(lambda job_id: _record(remote, base, job_id, listed[job_id]), listed))
        ids = list(listed)
    table = Table("job", "status", "task", "owner", "submitted (UTC)", "ended (UTC)")
    for r in records:
        table.add_row(r.get("jobID", ""), _label(r.get("status")), r.get("task", ""), r.get("username") or "-",
                      _when(r.get("submittedTime")), _when(r.get("endTime")))
    Console(width=160).print(table)
    total, first = page.get("total", len(ids)), page.get("start", 1)
    said = f"{first}-{first + len(ids) - 1} of {total}" if ids else f"none of {total}"
    if page.get("nextStart", -1) > 0:
        until_ms = (page.get("query") or {}).get("endTime")     # the same "now" keeps the pages still
        said += f"; next page: --start {page['nextStart']}" + (f" --until {until_ms}" if until_ms else "")
    err.print(said)


def _record(remote: Remote, base: str, job_id: str, status: str) -> dict[str, Any]:
    """A listed job's admin record; only its id and status when it went meanwhile (purged)."""
    try:
        return remote.get(f"{base}/{quote(job_id, safe='')}")
    except RemoteError:
        return {"jobID": job_id, "status": status}


# -- show ------------------------------------------------------------------------------------

@jobs_app.command()
def show(
    job_id: str = typer.Argument(..., metavar="JOB", help="The job's id."),
    as_json: bool = JsonOpt, url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """A job's status, times, progress, inputs, results and messages."""
    with _session(url, token, user, password_file) as remote:
        times = remote.status_info(job_id)
        ref = remote.job_of(times)
        job = remote.get(ref.url)
        inputs = remote.get(f"{ref.url}/inputs")
        succeeded = job.get("jobStatus") == "esriJobSucceeded"
        results = remote.get(f"{ref.url}/results") if succeeded else []
    if as_json:
        _print_json({**job, "serviceName": ref.service, "task": ref.task, "inputs": inputs, "results": results,
                     **{k: times[k] for k in ("created", "started", "finished") if k in times}})
        return
    out = Console(width=160)
    out.print(f"[bold]Job {ref.id}[/]  {escape(ref.service)} {escape(ref.task)}")
    out.print(f"status     {_label(job.get('jobStatus'))}")
    for name in ("created", "started", "finished"):
        if name in times:
            out.print(f"{name:<10} {times[name]}")
    progress = job.get("progress")
    if progress:
        percent = f"{progress['percent']:.0f}% " if progress.get("percent") is not None else ""
        out.print(f"progress   {percent}{escape(progress.get('message') or '')}")
    for title, values in (("inputs", inputs), ("results", results)):
        if values:
            table = Table("name", "type", "value", title=title, title_justify="left")
            for p in values:
                table.add_row(p.get("paramName", ""), p.get("dataType", ""), escape(_short(p.get("value"))))
            out.print(table)
    out.print("messages")
    for m in job.get("messages") or []:
        kind = str(m.get("type", "")).removeprefix("esriJobMessageType")
        out.print(f"  {kind:<12} {escape(str(m.get('description', '')))}", soft_wrap=True)


# -- submit and watch ------------------------------------------------------------------------

def submit_values(pairs: list[str], params_file: Optional[Path]) -> dict[str, str]:
    """The form fields of a submitJob: a JSON file's object, then ``name=value`` pairs over it.
    Text is sent as it is; other JSON values as JSON text (a feature set, a list, a number),
    which is how the REST API takes them."""
    values: dict[str, str] = {}
    if params_file is not None:
        try:
            data = orjson.loads(params_file.read_bytes())
        except OSError as exc:
            raise UsageError(f"Cannot read --params {params_file}: {exc.strerror or exc}") from None
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--params {params_file} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"--params {params_file} must hold a JSON object of parameter names and values.")
        values.update({str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in data.items()})
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"Parameters are name=value, not {pair!r}.")
        values[name.strip()] = value
    return values


@jobs_app.command()
def submit(
    service: str = typer.Argument(..., help="The GP service: Folder/Name, or Name in the root folder."),
    task: str = typer.Argument(..., help="The task (tool) to run."),
    params: Optional[list[str]] = typer.Argument(None, metavar="[NAME=VALUE]...",
                                                 help="Parameters; JSON for features, lists and the like."),
    params_file: Optional[Path] = typer.Option(None, "--params", "-p",
                                               help="A JSON file of parameters ({\"name\": value, ...})."),
    follow: bool = typer.Option(False, "--watch", "-w", help="Then watch the job; exit with its outcome."),
    url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """Submit a job (submitJob) and print its id."""
    with _session(url, token, user, password_file) as remote:
        data = submit_values(params or [], params_file)
        answer = remote.post(f"{service_url(service)}/{quote(task)}/submitJob", data)
        if not answer.get("jobId"):
            raise RemoteError(f"The server answered no job id: {_short(answer)}")
        typer.echo(answer["jobId"])
        if follow:
            raise typer.Exit(watch_job(remote, JobRef(answer["jobId"], service.strip("/"), task), err))


@jobs_app.command()
def watch(
    job_id: str = typer.Argument(..., metavar="JOB", help="The job's id."),
    url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """Follow a job live until it ends; exit with its outcome.

    A progress bar with the current stage, and each new message.
    Exit code 0: succeeded, 3: failed, 4: cancelled, 5: timed out."""
    with _session(url, token, user, password_file) as remote:
        raise typer.Exit(watch_job(remote, remote.locate(job_id), err))


# -- cancel, delete, results -----------------------------------------------------------------

@jobs_app.command()
def cancel(
    job_id: str = typer.Argument(..., metavar="JOB", help="The job's id."),
    url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """Cancel a job that has not ended (watch shows when it has stopped)."""
    with _session(url, token, user, password_file) as remote:
        ref = remote.locate(job_id)
        answer = remote.post(f"{ref.url}/cancel")
    typer.echo(f"{ref.id} {_label(answer.get('jobStatus'))}")


@jobs_app.command()
def delete(
    job_id: str = typer.Argument(..., metavar="JOB", help="The job's id."),
    url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """Delete a job and its files, cancelling it first if it runs.

    The admin API's delete: for administrators, and publishers for their services."""
    with _session(url, token, user, password_file) as remote:
        ref = remote.locate(job_id)
        remote.post(f"{ADMIN_SERVICES}/{quote(ref.service)}.GPServer/jobs/{quote(ref.id, safe='')}/delete")
    typer.echo(f"{ref.id} deleted")


@jobs_app.command()
def results(
    job_id: str = typer.Argument(..., metavar="JOB", help="The job's id."),
    download: Optional[Path] = typer.Option(None, "--download", "-d", file_okay=False,
                                            help="Write each result into this folder: files as downloaded, "
                                                 "other values as <name>.json."),
    url: str = UrlOpt, token: Optional[str] = TokenOpt, user: Optional[str] = UserOpt,
    password_file: Optional[Path] = PasswordFileOpt,
) -> None:
    """A succeeded job's results: printed as JSON, or written into a folder."""
    with _session(url, token, user, password_file) as remote:
        ref = remote.locate(job_id)
        values = remote.get(f"{ref.url}/results")
        if download is None:
            _print_json(values)
            return
        try:
            download.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"Cannot make --download {download}: {exc.strerror or exc}") from None
        for path in save_results(values, download, remote.download):
            typer.echo(path)


def save_results(values: list[dict[str, Any]], folder: Path, fetch: Callable[[str, Path], None]) -> list[Path]:
    """Each result into ``folder``: a file (a value with a ``url``, as GPDataFile and raster
    results are and as ArcGIS clients read them) under its own name, fetched; any other value
    as ``<name>.json``.  A name already taken gets the parameter's name in front."""
    written: list[Path] = []
    for p in values:
        name, value = str(p.get("paramName") or "result"), p.get("value")
        file_url = value.get("url") if isinstance(value, dict) else None
        if isinstance(file_url, str) and file_url:
            target = folder / _safe(unquote(urlsplit(file_url).path.rsplit("/", 1)[-1]) or name)
            if target in written:
                target = folder / _safe(f"{name}-{target.name}")
            fetch(file_url, target)
        else:
            target = folder / _safe(f"{name}.json")
            target.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(target)
    return written


def _safe(name: str) -> str:
    """A file name that stays in its folder."""
    plain = Path(name.replace("\\", "/")).name.lstrip(".")
    return plain or "result"
