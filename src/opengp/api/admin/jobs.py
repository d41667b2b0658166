"""``/arcgis/admin/services/[<Folder>/]<Svc>.GPServer/jobs``: query and manage a service's jobs.

Administrators, and publishers for the services they created (checked by the
caller, ``services.py``).  Errors use the admin shape.
"""
from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request

from ...core import InvalidInput, Job, NotFound, ShowMessages
from ...core.times import within_dates
from ...store import JobQuery
from ..kit.esrijob import JOB_STATUS, messages_json

_STATUS_BY_NAME = {name.lower(): status for status, name in JOB_STATUS.items()}
MAX_PAGE = 10_000


async def dispatch(request: Request, jobs: Any, key: str, rest: list[str], params: dict[str, str]) -> Any:
    """``jobs``, ``jobs/query``, ``jobs/<id>[/cancel|/delete]``, ``jobs/delete``, ``purgeQueue``, ``statistics``."""
    if not rest or rest == ["query"]:
        return await query_json(jobs, key, params)
    if rest[-1] in ("purgeQueue", "delete", "cancel") and request.method != "POST":
        raise InvalidInput(f"'{rest[-1]}' changes jobs: send it as a POST.")
    if rest == ["purgeQueue"]:
        return {"status": "success", "cancelled": await jobs.purge_queue(key)}
    if rest == ["statistics"]:
        return jobs.statistics(key)
    if rest == ["delete"]:
        ids = [i.strip() for i in params.get("jobIds", params.get("jobs", "")).split(",") if i.strip()]
        if not ids:
            raise InvalidInput("Unable to delete jobs.", ["Pass jobIds=<id>,<id>,..."])
        for job_id in ids:
            jobs.get(job_id, key)                 # all must exist before any is deleted
        for job_id in ids:
            await jobs.delete(job_id)
        return {"status": "success", "deleted": ids}
    job = jobs.get(rest[0], key)
    if len(rest) == 1:
        return job_record(request, job)
    if rest[1:] == ["cancel"]:
        job = await jobs.cancel(job.id, key)
        return {"status": "success", "jobId": job.id, "jobStatus": JOB_STATUS[job.status]}
    if rest[1:] == ["delete"]:
        await jobs.delete(job.id)
        return {"status": "success"}
    raise NotFound(f"Resource '{'/'.join(rest)}' not found.")


def parse_time(name: str, raw: str, what: str = "Unable to query jobs.") -> float:
    """``yyyy-mm-ddThh:mm:ss`` (UTC unless an offset is given; ArcGIS's ``,123`` milliseconds
    too) or epoch seconds (numbers past year 5000 are taken as milliseconds, as ArcGIS clients
    send); ``what`` heads the error."""
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(what, [
                f"'{name}' must be yyyy-mm-ddThh:mm:ss or seconds since the epoch, not {text!r}."]) from None
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    seconds = number / 1000 if abs(number) >= 1e11 else number
    if not within_dates(seconds):
        raise InvalidInput(what, [f"'{name}' must be a time between the years 1 and 9999."])
    return seconds


def whole_number(params: dict[str, str], name: str, default: int, low: int, high: int,
                 what: str = "Unable to query jobs.") -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(what, [f"'{name}' must be a whole number, not {raw!r}."]) from None
    if not low <= value <= high:
        raise InvalidInput(what, [f"'{name}' must be between {low} and {high}."])
    return value


async def query_json(jobs: Any, key: str, params: dict[str, str]) -> dict[str, Any]:
    status_text = (params.get("jobStatus") or params.get("status") or "").strip()
    statuses = None
    if status_text:
        status = _STATUS_BY_NAME.get(status_text.lower()) or _STATUS_BY_NAME.get(f"esrijob{status_text.lower()}")
        if status is None:
            raise InvalidInput("Unable to query jobs.", [
                f"Unknown jobStatus {status_text!r}; use one of {', '.join(JOB_STATUS.values())}."])
        statuses = frozenset({status})
    start_time = parse_time("startTime", params["startTime"]) if params.get("startTime") else None
    user = (params.get("userName") or "").strip() or None
    number = whole_number(params, "number", 10, 1, MAX_PAGE)
    start = whole_number(params, "start", 1, 1, 2**31 - 1)
    if params.get("endTime"):
        end_time = parse_time("endTime", params["endTime"])
        # pages with the same endTime are the same set: the jobs created up to it have all been
        # stored (a submit stamped before it may still be committing on some API server)
        await jobs.settled_time()
    else:       # "If unspecified, the current time will be used", on every page (ArcGIS's words);
        end_time = math.floor(time.time() * 1000) / 1000    # kept to the ms, as it is echoed
    total, page = await jobs.query_async(JobQuery(
        service=key, kind=jobs.jobs_kind(key).value, statuses=statuses, user_name=user, created_after=start_time,
        created_before=end_time, offset=start - 1, limit=number,
        machine=(params.get("machineName") or "").strip() or None))
    next_start = start + len(page) if start - 1 + len(page) < total else -1
    return {
        "total": total, "num": len(page), "start": start, "nextStart": next_start,
        # serviceName: the name without its folder, as ArcGIS's example echoes System/PublishingTools
        "query": {"serviceName": key.rpartition("/")[2], "userName": user or "",
                  "machineName": (params.get("machineName") or "").strip(),
                  "status": [JOB_STATUS[s] for s in statuses] if statuses else [],
                  "startTime": round(start_time * 1000) if start_time is not None else None,
                  "endTime": round(end_time * 1000)},
        "results": {job.id: JOB_STATUS[job.status].removeprefix("esriJob") for job in page},
    }


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def job_record(request: Request, job: Job) -> dict[str, Any]:
    """One job, in full: times in epoch ms, its owner, and when it will be purged."""
    base = str(request.base_url).rstrip("/")
    return {
        "jobID": job.id, "serviceName": job.service, "task": job.task, "status": JOB_STATUS[job.status],
        "submittedTime": _ms(job.created), "startTime": _ms(job.started), "endTime": _ms(job.finished),
        "updatedTime": _ms(job.updated), "expires": _ms(job.expires), "username": job.owner,
        "machinename": job.worker.rpartition(":")[0] if job.worker else None, "worker": job.worker,
        "attempts": job.attempts, "error": job.error,
        "url": f"{base}/arcgis/rest/services/{job.service}/GPServer/{job.task}/jobs/{job.id}",
        "messages": messages_json(job, ShowMessages.INFO),     # administrators see what the level hides
    }

