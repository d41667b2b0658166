"""Outbound URLs: the one guard every server-side fetch or POST goes through.

The server reaches URLs its callers name (OGC callbacks, inputs by reference,
area-of-interest and feature layers).  Unless ``allow_private_urls`` is set,
addresses on this machine or a private network are refused, so a caller
cannot use the server to reach what only the server can see; redirects are
checked the same way.  (The name is resolved again to connect, so a DNS
server that answers differently the second time is not stopped here: put an
egress proxy or firewall in front where that matters.)
"""
from __future__ import annotations

import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

TIMEOUT = 10.0
_policy = {"allow_private": False, "max_bytes": 1024 * 1024 * 1024}


def set_policy(*, allow_private: bool, max_bytes: int) -> None:
    """This process's rules for fetches made on a tool's behalf (``DataFile.read_bytes``):
    the server and its workers set them from the settings at start."""
    _policy.update(allow_private=allow_private, max_bytes=max_bytes)


def fetch_for_tool(url: str, timeout: float = 60.0) -> bytes:
    """A file input's content by URL, under this process's policy."""
    return fetch(url, allow_private=bool(_policy["allow_private"]), max_bytes=int(_policy["max_bytes"]),
                 timeout=timeout)[0]


def url_problem(url: object, allow_private: bool) -> str | None:
    """Why the server may not reach ``url`` (None when it may)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    if not allow_private and is_private_host(parts.hostname):
        return "points at this machine or a private network, which the server may not reach"
    return None


def is_private_host(host: str) -> bool:
    """True when any address ``host`` resolves to is not a global one (or it does not resolve)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return True         # cannot tell where it goes: refuse
    return any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to where the first URL could have gone itself."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        problem = url_problem(newurl, self.allow_private)
        if problem:
            raise ValueError(f"it redirects to {newurl}, which {problem.replace('must be', 'is not')}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, *, allow_private: bool, max_bytes: int, timeout: float = TIMEOUT) -> tuple[bytes, str]:
    """GET ``url`` (checked first) and return its body and content type.

    Raises ValueError with a sentence for the caller when the URL is refused,
    unreachable, answers an error or is larger than ``max_bytes``.
    """
    problem = url_problem(url, allow_private)
    if problem:
        raise ValueError(f"{url} {problem}")
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*"})
    opener = urllib.request.build_opener(_GuardedRedirects(allow_private))
    try:
        with opener.open(request, timeout=timeout) as response:   # scheme checked, and at every redirect
            body = response.read(max_bytes + 1)
            kind = response.headers.get("Content-Type", "")
    except Exception as exc:      # refused, timed out, HTTP error status
        raise ValueError(f"could not read {url}: {exc}") from None
    if len(body) > max_bytes:
        raise ValueError(f"{url} is larger than {max_bytes} bytes")
    return body, kind
