"""``opengp jobs watch``: a job followed live until it ends, as its page follows it.

The server's live update stream (``.../jobs/<id>/events``, server-sent events: the job's state
now and at every change, with the messages after the ones already shown) feeds a rich
progress bar with the current stage, and prints each new message.  Where the stream cannot be
used (a proxy that buffers or refuses it) the same states are polled (``?once=true``), as the
job page does.  The command exits with the job's outcome (``EXIT_CODES``).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from .cli_remote import JobRef, Remote, StreamUnavailable, Unreachable
from .core import Status

# The job's outcome as the watching command's exit code (docs/operations.md); 1 is an error
# talking to the server and 2 a usage error, as for every other command.
EXIT_CODES = {Status.SUCCEEDED: 0, Status.FAILED: 3, Status.CANCELLED: 4, Status.TIMED_OUT: 5}
INTERRUPTED = 130           # Ctrl-C: the watching stops, the job goes on
STREAM_FAILURES = 3         # broken streams in a row before polling instead (the job page's count)
POLL_SECONDS = 1.0
POLL_FAILURES = 10          # unanswered polls in a row (3 s apart) before giving up
QUIET_SECONDS = 60.0        # a stream silent this long (a job with nothing to report) is reopened
_COLOR = {Status.SUCCEEDED: "green", Status.FAILED: "red", Status.TIMED_OUT: "red", Status.CANCELLED: "yellow"}
_LEVEL = {"info": "dim", "warning": "yellow", "error": "red"}


def watch(remote: Remote, job: JobRef, console: Console) -> int:
    """Follow ``job`` until it ends, showing it on ``console``; the exit code of its outcome."""
    view = LiveView(console, job)
    try:
        with view:
            state = _follow(remote, job, view)
    except KeyboardInterrupt:
        console.print(f"stopped watching; the job goes on (opengp jobs cancel {job.id} stops it)", soft_wrap=True)
        return INTERRUPTED
    status = Status(state["status"])
    console.print(f"Job {job.id} [{_COLOR.get(status, 'bold')}]{escape(str(state.get('label', status.value)))}[/]"
                  + (f" after {state['duration']}" if state.get("duration") else ""))
    return EXIT_CODES.get(status, 1)


def _follow(remote: Remote, job: JobRef, view: LiveView) -> dict[str, Any]:
    """The job's last state: from the stream while it works; by polling when the answer is
    not a stream (refused on the way) or streams keep breaking."""
    failures = 0
    while failures < STREAM_FAILURES:
        try:
            for state in stream(remote, f"{job.url}/events", view.shown):
                failures = 0
                view.show(state)
                if state.get("terminal"):
                    return state
            failures += 1           # ended before the job did: the server stopped, or a proxy cut it
        except httpx.ReadTimeout:
            continue                # nothing happened for a while: ask again (the state comes first)
        except httpx.HTTPError:
            failures += 1
        except StreamUnavailable:
            break
        time.sleep(1.0)
    return _poll(remote, job, view)


def _poll(remote: Remote, job: JobRef, view: LiveView) -> dict[str, Any]:
    failures = 0
    while True:
        try:
            state = remote.get(f"{job.url}/events", once="true", after=view.shown)
        except Unreachable:
            if failures >= POLL_FAILURES:
                raise
            failures += 1
            time.sleep(3)
            continue
        failures = 0
        view.show(state)
        if state.get("terminal"):
            return state
        time.sleep(POLL_SECONDS)


def stream(remote: Remote, path: str, after: int) -> Iterator[dict[str, Any]]:
    """The states a server-sent event stream carries (each event's ``data``, JSON)."""
    with remote.stream(path, {"after": after}, QUIET_SECONDS) as response:
        data: list[str] = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                yield orjson.loads("\n".join(data))
                data = []


class LiveView:
    """A job's progress on a console: a live bar with the status and current stage in a
    terminal; elsewhere (a log, a pipe) a line whenever the status or stage changes.  New
    messages are printed above either."""

    def __init__(self, console: Console, job: JobRef) -> None:
        self.console, self.job = console, job
        self.shown = 0          # messages printed so far (the stream's ``after``)
        self._said: tuple[Any, ...] = ()
        self._progress: Progress | None = None
        self._bar: Any = None

    def __enter__(self) -> LiveView:
        self.console.print(f"Watching job {self.job.id} ({escape(self.job.service)} {escape(self.job.task)})")
        if self.console.is_terminal:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      TaskProgressColumn(), TimeElapsedColumn(), console=self.console,
                                      transient=True)
            self._progress.start()
            self._bar = self._progress.add_task("", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def show(self, state: dict[str, Any]) -> None:
        """One state from the stream or a poll."""
        for m in state.get("messages") or []:
            level = str(m.get("level", "info"))
            self.console.print(f"{m.get('time', '')} [{_LEVEL.get(level, 'bold')}]{level:<7}[/] "
                               f"{escape(str(m.get('text', '')))}", soft_wrap=True, highlight=False)
        self.shown = int(state.get("count", self.shown))
        label, stage, percent = str(state.get("label", "")), state.get("stage") or "", state.get("percent")
        if state.get("terminal"):
            percent = 100.0 if state.get("status") == Status.SUCCEEDED.value else percent
        description = escape(f"{label}: {stage}" if stage else label)
        if self._progress is not None:
            self._progress.update(self._bar, description=description, total=100 if percent is not None else None,
                                  completed=percent or 0)
        elif (label, stage) != self._said and not state.get("terminal"):     # the last line says how it ended
            self.console.print(description + (f" ({percent:.0f}%)" if percent is not None else ""))
        self._said = (label, stage)
