"""GP feature inputs given as ``{"url": <layer or query URL>}``.

A URL naming one of our own layers is read straight from its file (no HTTP
to ourselves), after checking at submit that the submitting user may read
the dataset.  Any other URL is an ArcGIS feature layer elsewhere, fetched
through the one outbound-URL guard (``system.urls``) page by page.

"Ours" is decided from the settings alone (``Catalog.find_url`` without
extra hosts: the configured host and port, loopback names, ``public_url``),
never from a request's Host header: the worker that reads the input has no
request, and submit and run must agree on whether a URL is read locally.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from ..auth import Claims, scopes_for
from ..core import OpenGPError
from ..system.urls import fetch, url_problem
from ..tools.values import FeatureSet, InvalidValue

if TYPE_CHECKING:
    from ..store.users import UserStore
    from .catalog import Catalog, Layer

MAX_PAGES = 50                   # pages fetched from another server for one input
MAX_FEATURES = 100_000
MAX_PAGE_BYTES = 64 * 1024 * 1024


class LayerInputs:
    """The ``FeatureSource`` of ``ParseEnv``: checks (at submit) and reads (in the job) layer URLs.

    ``user`` gives the submitting user's claims, asked only for a dataset that is
    not public; without it (in the worker, after submit checked) nothing is checked.
    """

    def __init__(self, catalog: "Catalog", *, allow_private: bool,
                 user: Callable[[], Claims | None] | None = None) -> None:
        self.catalog = catalog
        self.allow_private = allow_private
        self.user = user

    def check(self, url: str) -> None:
        own = self.catalog.find_url(url)
        if own is None:
            problem = self.catalog.missing(url) or url_problem(url, self.allow_private)
            if problem:
                raise InvalidValue(f"{url} {problem}")
            return
        dataset, layer = own
        if self.user is not None and not dataset.public:
            from .catalog import can_read

            who = self.user()
            if not can_read(dataset, who):
                raise InvalidValue(f"dataset {dataset.key} needs a token" if who is None else
                                   f"{who.user.name} may not read dataset {dataset.key}")
        self._own(layer, url, check_only=True)

    def read(self, url: str) -> FeatureSet:
        own = self.catalog.find_url(url)
        if own is not None:
            return self._own(own[1], url)
        missing = self.catalog.missing(url)
        if missing:
            raise InvalidValue(f"{url} {missing}")
        return read_remote(url, allow_private=self.allow_private)

    @staticmethod
    def _own(layer: "Layer", url: str, check_only: bool = False) -> FeatureSet:
        from .query import feature_set, parse_query, select

        params = {"outFields": "*", **dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))}
        params["f"] = "json"
        for flag in ("returnCountOnly", "returnIdsOnly"):
            params.pop(flag, None)
        try:
            query = parse_query(layer, params, max_records=None)
            if check_only:
                return FeatureSet()
            chosen = select(layer, query)
        except OpenGPError as exc:      # a bad where, outFields... in the URL's query
            raise InvalidValue(" ".join(exc.details) or exc.message) from None
        return feature_set(chosen)      # type: ignore[arg-type]


def read_remote(url: str, *, allow_private: bool) -> FeatureSet:
    """Every feature of a layer on another ArcGIS server: ``query`` pages while the server
    says ``exceededTransferLimit``, up to MAX_PAGES and MAX_FEATURES."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if not path.lower().endswith("/query"):
        path += "/query"
    params.setdefault("where", "1=1")
    params.setdefault("outFields", "*")
    params.setdefault("returnGeometry", "true")
    params["f"] = "json"
    offset = int(params.get("resultOffset") or 0) if str(params.get("resultOffset") or "0").isdigit() else 0
    merged: FeatureSet | None = None
    for _ in range(MAX_PAGES):
        page_url = urlunsplit((parts.scheme, parts.netloc, path, urlencode({**params, "resultOffset": offset}), ""))
        body, _ = fetch(page_url, allow_private=allow_private, max_bytes=MAX_PAGE_BYTES)
        page = _page(body, url)
        features = FeatureSet.from_json(page)
        if merged is None:
            merged = features
        else:
            merged.features.extend(features.features)
        if len(merged.features) > MAX_FEATURES:
            raise InvalidValue(f"{url} has more than {MAX_FEATURES} features; narrow it with a where clause")
        if not page.get("exceededTransferLimit") or not features.features:
            return merged
        offset += len(features.features)
    raise InvalidValue(f"{url} needs more than {MAX_PAGES} pages; narrow it with a where clause")


def _page(body: bytes, url: str) -> dict[str, Any]:
    try:
        page = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidValue(f"{url} did not answer with JSON") from None
    if not isinstance(page, dict):
        raise InvalidValue(f"{url} did not answer with a feature set")
    if isinstance(page.get("error"), dict):
        error = page["error"]
        details = "; ".join(str(d) for d in error.get("details") or [])
        raise InvalidValue(f"{url} answered an error: {error.get('message')}" + (f" ({details})" if details else ""))
    if "features" not in page:
        raise InvalidValue(f"{url} did not answer with a feature set")
    return page


def submit_inputs(catalog: "Catalog", users: "UserStore",
                  allow_private: bool) -> Callable[[str | None], LayerInputs]:
    """What the job service uses at submit: the LayerInputs of the job's owner (a user name,
    or None for anonymous), who is looked up only if a non-public dataset is named."""
    def for_owner(owner: str | None) -> LayerInputs:
        def who() -> Claims | None:
            user = users.get(owner) if owner else None
            return None if user is None else Claims(user, scopes_for(user.roles), token_id="", expires=0.0)
        return LayerInputs(catalog, allow_private=allow_private, user=who)
    return for_owner

