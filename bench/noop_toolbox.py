"""Benchmark toolbox: tasks that do (almost) nothing, so the numbers measure opengp itself.

Noop   - the task of the throughput targets (submit, poll, fetch a GPString result).
Stamp  - returns time.time() as the task starts; the driver subtracts the moment it sent
         submitJob, which gives submit-to-executing latency without relying on polling.
Sleep  - holds a worker for `seconds`; handy for manual checks (e.g. watching esriJobExecuting).
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
