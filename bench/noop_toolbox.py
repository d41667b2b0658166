"""Benchmark toolbox: tasks that do (almost) nothing, so the numbers measure opengp itself.

Noop   - the task of the throughput targets (submit, poll, fetch a GPString result).
Stamp  - returns time.time() as the task starts; the driver subtracts the moment it sent
         submitJob, which gives submit-to-executing latency without relying on polling.
Sleep  - holds a worker for `seconds`; handy for manual checks (e.g. watching esriJobExecuting).
Burn   - keeps one core busy for `seconds` of its own CPU time (default 0.2): the CPU-bound task
         of issue 6's scaling target (bench/scaleout.py). CPU time, not wall time, so two burns
         sharing one core take twice as long, as real work would.
"""
import time

from opengp import tool


@tool(name="Noop")
def noop(value: str = "x") -> str:
    return value


@tool(name="Stamp")
def stamp(value: str = "x") -> str:
    return repr(time.time())


@tool(name="Sleep")
def sleep(seconds: float = 0.1) -> str:
    time.sleep(seconds)
    return "slept"


@tool(name="Burn")
def burn(seconds: float = 0.2) -> str:
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        for _ in range(1000):
            n += 1
    return str(n)
