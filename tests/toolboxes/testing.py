"""Tools the test suite publishes: each exercises one behaviour of the server."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Annotated

from opengp import DataFile, JobContext, Param, tool


@tool(name="Noop")
def noop(value: str = "x") -> str:
    return value


@tool(name="Add", description="Adds two numbers.")
def add(a: Annotated[int, Param(display_name="First")], b: int = 2) -> int:
    return a + b


@tool(name="Choose")
def choose(color: Annotated[str, Param(choices=["red", "green"])]) -> str:
    return color.upper()


@dataclass
class Stats:
    total: float
    count: int
    title: str


@tool(name="Stats")
def stats(values: list[float], label: str = "values") -> Stats:
    return Stats(total=sum(values), count=len(values), title=label.title())


@tool(name="Sleep", description="Sleeps, checking ctx.cancelled.")
def sleep(seconds: float = 1.0, ctx: JobContext = None) -> str:
    ctx.stage("Sleeping")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ctx.cancelled:
            return "stopped early"
        ctx.progress(100 * (1 - (end - time.monotonic()) / seconds))
        time.sleep(0.02)
    return "rested"


@tool(name="Stages", description="Reports a few stages with pauses between them (live updates).")
def stages(count: int = 4, pause: float = 0.5, ctx: JobContext = None) -> int:
    for i in range(count):
        ctx.stage(f"Stage {i + 1} of {count}")
        ctx.progress(100 * (i + 1) / count)
        time.sleep(pause)
    return count


@tool(name="Stubborn", description="Busy-loops and never checks for cancellation.")
def stubborn(seconds: float = 60.0) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


@tool(name="Fail")
def fail(message: str = "the tool failed on purpose", ctx: JobContext = None) -> str:
    ctx.warning("about to fail")
    raise RuntimeError(message)


@tool(name="Chatty", description="Reports thousands of progress updates and messages.")
def chatty(n: int = 5000, ctx: JobContext = None) -> int:
    for i in range(n):
        ctx.progress(100 * i / n)
        if i % 100 == 0:
            ctx.info(f"step {i}")
    return n


@tool(name="WriteFile")
def write_file(text: str = "hello", ctx: JobContext = None) -> DataFile:
    path = ctx.workdir / "out.txt"
    path.write_text(text)
    return DataFile(path=path)


@tool(name="Pid", description="Reports its worker's pid in a message, then sleeps.")
def pid(seconds: float = 30.0, ctx: JobContext = None) -> int:
    ctx.info(f"pid={os.getpid()}")
    ctx.flush()
    time.sleep(seconds)
    return os.getpid()


@tool(name="ReadFile", description="Returns the text of a file given by URL or upload.")
def read_file(data: DataFile) -> str:
    return data.read_bytes().decode("utf-8")


@tool(name="PassFile", description="Returns the file it was given, as given (a URL stays that URL).")
def pass_file(data: DataFile) -> DataFile:
    return data



@tool(name="LogLines", description="Logs lines with Python's logging (the server log: admin logs/query).")
def log_lines(message: str = "a line", level: str = "warning", count: int = 1, pause: float = 0.0) -> int:
    logger = logging.getLogger("tests.tool")
    for i in range(count):
        logger.log(logging.getLevelName(level.upper()), "%s %d", message, i)
        time.sleep(pause)
    return count
