"""A session with an opengp server over HTTP, for ``opengp jobs``: signing in, requests whose
refusals become one line (``RemoteError``), finding a job by its id alone, and downloads.

It speaks only the server's public wire formats (the ArcGIS REST API, its admin API, OGC API -
Processes), so the jobs CLI runs on any machine that can reach a server; the import-linter
contract "The jobs CLI talks to a server over HTTP" in pyproject.toml keeps it that way.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import orjson

SERVICES = "/arcgis/rest/services"
ADMIN_SERVICES = "/arcgis/admin/services"
OGC_JOBS = "/ogcapi/jobs"
GENERATE_TOKEN = "/arcgis/tokens/generateToken"
TIMEOUT = httpx.Timeout(30.0)
# a token the server no longer takes: 498 Invalid Token in the REST and admin dialects; the OGC
# face answers 401 for it (and for no token at all, which a signed-in session never sends)
TOKEN_REFUSED = frozenset({498, 401})


class RemoteError(Exception):
    """The server refused: its own message in one line, and its error ``code``."""

    def __init__(self, text: str, code: int | None = None) -> None:
        super().__init__(text)
        self.code = code


class Unreachable(RemoteError):
    """The server could not be reached (or stopped answering mid-way)."""


class UsageError(Exception):
    """What the command was given cannot work (exit code 2, as for a bad option)."""


class StreamUnavailable(Exception):
    """A stream was asked for and something else came back (a proxy's refusal)."""


def server_root(url: str) -> str:
    """The server's root URL from what a person may paste: ``http://host:8000``, or any URL
    under its ``/arcgis`` (``.../arcgis/rest/services``), as ArcGIS users know it."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--url must be an http:// or https:// URL, not {url!r}.")
    path = parts.path
    cut = path.find("/arcgis")
    if cut >= 0 and (len(path) == cut + 7 or path[cut + 7] == "/"):
        path = path[:cut]
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}"


def refusal(response: httpx.Response) -> RemoteError | None:
    """The server's refusal, in whichever face's shape it came (None: not one).

    ArcGIS REST ``{"error": {"code", "message", "details"}}`` (over HTTP 200, as ArcGIS sends
    it), the admin API's ``{"status": "error", "messages", "code"}``, an OGC problem
    (``title``, ``detail``), or any other answer with an HTTP error status."""
    body: Any = None
    if "json" in response.headers.get("content-type", ""):
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            error = body["error"]
            return _refused(error.get("code"), [error.get("message"), *(error.get("details") or [])])
        if body.get("status") == "error":
            return _refused(body.get("code"), list(body.get("messages") or []))
        if response.status_code >= 400 and ("title" in body or "detail" in body):
            return _refused(body.get("status") or response.status_code, [body.get("title"), body.get("detail")])
    if response.status_code >= 400:
        first = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
        return _refused(response.status_code, [first])
    return None


def _refused(code: Any, texts: list[Any]) -> RemoteError:
    """``message: detail; detail (error N)``."""
    said = [str(t).strip() for t in texts if t and str(t).strip()] or ["The server refused the request."]
    text = said[0].rstrip(".:") + ": " + "; ".join(said[1:]) if len(said) > 1 else said[0]
    number = code if isinstance(code, int) else int(code) if str(code).isdigit() else None
    return RemoteError(f"{text} (error {code})" if code else text, number)


@dataclass(frozen=True)
class JobRef:
    """Where a job lives: its id, its GP service's key (``Folder/Name``) and its task."""

    id: str
    service: str
    task: str

    @property
    def url(self) -> str:
        """The job under its service (``.../GPServer/jobs/<id>``: the task is not needed)."""
        return f"{service_url(self.service)}/jobs/{quote(self.id, safe='')}"


def service_url(key: str) -> str:
    return f"{SERVICES}/{quote(key.strip('/'))}/GPServer"


class Remote:
    """One server, one caller: the token it sends (none: anonymous) on every request to that
    server, and nowhere else."""

    def __init__(self, url: str, token: str | None = None, user: str | None = None,
                 password: str | None = None) -> None:
        self.url = server_root(url)
        self._credentials = (user, password) if user is not None and password is not None else None
        self.client = httpx.Client(base_url=self.url, timeout=TIMEOUT, follow_redirects=False,
                                   headers={"User-Agent": "opengp-cli"})
        self._set_token(token)
        if token is None and self._credentials is not None:
            self._sign_in()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_token(self, token: str | None) -> None:
        self.client.headers.pop("X-Esri-Authorization", None)
        if token:
            self.client.headers["X-Esri-Authorization"] = f"Bearer {token}"

    def _sign_in(self) -> None:
        """generateToken with the user's name and password (POSTed, as the server requires)."""
        assert self._credentials is not None
        user, password = self._credentials
        body = self._json("POST", GENERATE_TOKEN, data={
            "username": user, "password": password, "client": "requestip", "f": "json"}, retry=False)
        if not isinstance(body, dict) or not body.get("token"):
            raise RemoteError(f"Cannot sign in as {user}: the server sent no token.")
        self._set_token(str(body["token"]))

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        """One request; a refusal raises RemoteError with the server's message."""
        response = self._send(method, path, **kwargs)
        problem = refusal(response)
        if problem is not None and retry and self._renewed(problem):
            response = self._send(method, path, **kwargs)
            problem = refusal(response)
        if problem is not None:
            raise problem
        return response

    def _renewed(self, problem: RemoteError) -> bool:
        """A token refused as expired or revoked is renewed when the password is known."""
        if self._credentials is None or problem.code not in TOKEN_REFUSED:
            return False
        self._sign_in()
        return True

    @contextmanager
    def stream(self, path: str, params: dict[str, Any], read_timeout: float) -> Iterator[httpx.Response]:
        """A server-sent event stream, open.  The server's refusal (no such job, no token) raises
        RemoteError; any other answer that is not a stream, StreamUnavailable."""
        timeout = httpx.Timeout(TIMEOUT.connect, read=read_timeout)
        for attempt in (1, 2):
            with self.client.stream("GET", path, params=params, timeout=timeout,
                                    headers={"Accept": "text/event-stream"}) as response:
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    yield response
                    return
                response.read()
            problem = refusal(response)
            if problem is None or response.status_code >= 500:
                raise StreamUnavailable(str(problem or f"HTTP {response.status_code}"))
            if attempt == 2 or not self._renewed(problem):
                raise problem

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"Cannot reach {self.url}: {exc or type(exc).__name__}") from None

    def _json(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        response = self.request(method, path, retry=retry, **kwargs)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RemoteError(f"{self.url}{path} did not answer JSON: is this an opengp server?") from None

    def get(self, path: str, **params: Any) -> Any:
        return self._json("GET", path, params={**params, "f": "json"})

    def post(self, path: str, data: dict[str, str] | None = None) -> Any:
        return self._json("POST", path, data={**(data or {}), "f": "json"})

    # -- jobs ----------------------------------------------------------------------------

    def locate(self, job_id: str) -> JobRef:
        """A job's service and task from its id alone."""
        return self.job_of(self.status_info(job_id))

    def status_info(self, job_id: str) -> dict[str, Any]:
        """The job in the OGC face, which finds any job by its id alone (and has its times)."""
        return self.get(f"{OGC_JOBS}/{quote(job_id.strip(), safe='')}")

    def job_of(self, info: dict[str, Any]) -> JobRef:
        """The job of an OGC ``statusInfo``: its ``processID`` is ``<folder>.<service>.<task>``,
        and the services directory says which published service that is (names may hold
        dots, so each service that fits is asked for the job)."""
        pid, job_id = str(info.get("processID") or ""), str(info.get("jobID") or "")
        fits = [key for key in self.gp_services() if pid.startswith(key.replace("/", ".") + ".")]
        for key in sorted(fits, key=len, reverse=True):
            ref = JobRef(job_id, key, pid[len(key) + 1:])
            if len(fits) == 1 or self._answers(ref.url):
                return ref
        raise RemoteError(f"Job '{job_id}' belongs to '{pid}', which is not a GP service you may use.")

    def _answers(self, path: str) -> bool:
        try:
            self.get(path, returnMessages="false")
        except RemoteError:
            return False
        return True

    def gp_services(self) -> list[str]:
        """The keys of the GP services the caller may use (the services directory)."""
        root = self.get(SERVICES)
        found = [s["name"] for s in root.get("services", []) if s.get("type") == "GPServer"]
        for folder in root.get("folders", []):
            listed = self.get(f"{SERVICES}/{quote(folder)}")
            found += [s["name"] for s in listed.get("services", []) if s.get("type") == "GPServer"]
        return found

    def download(self, url: str, target: Path) -> None:
        """A file result into ``target``.  The token goes only to this server: a result may
        point anywhere (a tool can pass on the URL it was given)."""
        absolute = urljoin(self.url + "/", url)
        same = urlsplit(absolute)[:2] == urlsplit(self.url)[:2]
        client = self.client if same else httpx.Client(timeout=TIMEOUT, headers={"User-Agent": "opengp-cli"})
        partial = target.with_name(target.name + ".part")
        try:
            with client.stream("GET", absolute) as response:
                if response.status_code >= 400 or "json" in response.headers.get("content-type", ""):
                    response.read()
                    problem = refusal(response)
                    if problem is not None:
                        raise RemoteError(f"Cannot download {absolute}: {problem}", problem.code)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
            partial.replace(target)
        except httpx.HTTPError as exc:
            raise Unreachable(f"Cannot download {absolute}: {exc or type(exc).__name__}") from None
        finally:
            partial.unlink(missing_ok=True)
            if not same:
                client.close()
