"""One configuration schema for every component: a TOML file plus OPENGP_* env.

    [server]                      # all optional
    host = "127.0.0.1"
    port = 8000
    data_dir = "opengp-data"      # SQLite file and job folders
    # files_url = "s3://bucket/jobs"  # job files and uploads in S3-compatible storage instead
    workers = 2                   # local worker processes
    processes = 1                 # API server processes on one port (more: scale-out mode only)
    # ssl_certfile = "cert.pem"   # serve HTTPS with this certificate (PEM) and key; both or neither
    # ssl_keyfile = "key.pem"

    [[services]]
    folder = "Demo"               # optional
    name = "Tools"
    toolbox = "opengp.toolboxes.demo"   # module name, or path to a .py file
    execution_type = "asynchronous"     # or "synchronous"
    max_usage_time = 600          # seconds a job may run before it is timed out
    max_instances = 4             # concurrent jobs of this service; the rest wait
    retention = 21600             # seconds a finished job and its files are kept
    show_messages = "Info"        # job messages clients see: "None", "Error", "Warning" or "Info"
    public = true                 # anyone may use it; or allowed = ["alice", "role:user"]

    [[datasets]]                  # a vector file served as .../<folder>/<name>/FeatureServer
    folder = "Data"
    name = "Topo"
    path = "data/topo.gpkg"       # GeoPackage, GeoJSON or Shapefile; relative to this file
    public = true

    [[product_services]]          # .../<folder>/<name>/TopographicProductionServer
    folder = "Products"
    name = "Topographic"
    public = true
    [[product_services.products]] # see docs/products.md for a product's versions
"""
from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .core.messages import ShowMessages
from .products.definition import Product
from .system.files import sqlite_url


PRODUCT_TOOLBOX = "opengp.products.toolbox"


def _check_allowed(v: list[str]) -> list[str]:
    from .core import ROLES, check_username

    for entry in v:
        if entry.startswith("role:"):
            if entry[5:] not in ROLES:
                raise ValueError(f"unknown role in {entry!r}; roles are {', '.join(ROLES)}")
        else:
            check_username(entry)
    return v


def _check_plain(v: str | None) -> str | None:
    if v is not None and (not v or "/" in v or v.startswith(".")):
        raise ValueError("must be a plain name without '/'")
    return v


class _Published(BaseModel):
    """What a GP service, a dataset and a product service share: a folder/name key
    checked to be plain, and ``allowed`` entries checked to name real roles.  (Each
    subclass declares its own fields, in its own order: a service's stored digest
    depends on it.)"""

    model_config = ConfigDict(extra="forbid")

    @field_validator("allowed", check_fields=False)
    @classmethod
    def _known_roles(cls, v: list[str]) -> list[str]:
        return _check_allowed(v)

    @field_validator("name", "folder", check_fields=False)
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        return _check_plain(v)

    @property
    def key(self) -> str:
        """``Folder/Name`` or ``Name``: how jobs and URLs name it."""
        return f"{self.folder}/{self.name}" if self.folder else self.name  # type: ignore[attr-defined]


class ServiceConfig(_Published):
    """One published GP service."""

    folder: str | None = None
    name: str
    toolbox: str
    execution_type: Literal["asynchronous", "synchronous"] = "asynchronous"
    max_usage_time: float = Field(600.0, gt=0)        # ArcGIS's default maxUsageTime
    max_instances: int | None = Field(None, ge=1)     # None: limited only by workers
    retention: float = Field(6 * 3600.0, gt=0)         # ArcGIS cleans job folders after 360 min
    retries: int = Field(0, ge=0)                      # re-runs after a lost worker
    public: bool = False              # anyone, even without a token, may use it
    allowed: list[str] = []           # else these users and "role:<role>"s (administrators always)
    description: str = ""
    # a job whose results' JSON is larger fails, saying so (nothing is silently cut); 100 MiB
    max_result_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    # which job messages clients see (ArcGIS's showMessages: None, Error, Warning or Info).  ArcGIS
    # publishes new services with None; opengp's users have always seen every message: Info
    show_messages: ShowMessages = ShowMessages.INFO

    @field_validator("show_messages", mode="before")
    @classmethod
    def _message_level(cls, v: object) -> ShowMessages:
        return ShowMessages.parse(v)        # in any letter case: "info" is Info

    @property
    def is_product(self) -> bool:
        """A product service's GP face: its jobs come only from generateProduct."""
        return self.toolbox == PRODUCT_TOOLBOX



class DatasetConfig(_Published):
    """A vector dataset served read-only as an ArcGIS feature service."""

    folder: str | None = None
    name: str
    path: Path                        # GeoPackage, GeoJSON or Shapefile; relative to the config file
    layers: list[str] | None = None   # the file's layers to serve, in this order; default all
    public: bool = False
    allowed: list[str] = []
    description: str = ""




class ProductServiceConfig(_Published):
    """A product service: a catalogue of products, generated as jobs of kind ``product``.

    It is also published as a GP service (toolbox ``opengp.products.toolbox``)
    with the same key, so its jobs show through the GP and admin faces.
    """

    folder: str | None = None
    name: str
    products: list[Product] = Field(min_length=1)
    max_usage_time: float = Field(600.0, gt=0)
    max_instances: int | None = Field(None, ge=1)
    retention: float = Field(6 * 3600.0, gt=0)
    public: bool = False
    allowed: list[str] = []
    description: str = ""



    def service_config(self) -> ServiceConfig:
        """The GP service that runs this service's product jobs."""
        return ServiceConfig(folder=self.folder, name=self.name, toolbox=PRODUCT_TOOLBOX,
                             execution_type="asynchronous", max_usage_time=self.max_usage_time,
                             max_instances=self.max_instances, retention=self.retention, public=self.public,
                             allowed=self.allowed, description=self.description or "Map products, generated as jobs.")


class Settings(BaseSettings):
    """Server settings; ``OPENGP_<NAME>`` environment variables override defaults."""

    model_config = SettingsConfigDict(env_prefix="OPENGP_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("opengp-data")
    database_url: str | None = None         # default: SQLite in data_dir
    workers: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2), ge=1)
    processes: int = Field(1, ge=1)         # API server processes of `opengp serve` on one port (scale-out only)
    max_request_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 1024 * 1024 * 1024    # one file sent to uploads/upload
    public_url: str | None = None           # base URL for file links; default: the request's
    ssl_certfile: Path | None = None        # HTTPS: the certificate (chain) in PEM ...
    ssl_keyfile: Path | None = None         # ... and its private key; neither: plain HTTP
    heartbeat_interval: float = 5.0
    purge_interval: float = Field(60.0, gt=0)   # how often jobs past their retention are deleted
    lease: float = 30.0                     # a running job whose heartbeat is older is reaped
    # -- scale-out (docs/scale-out-design.md): a broker URL switches to Celery workers ------------
    broker_url: str | None = None           # amqp://... (RabbitMQ) or redis://...; None: local workers
    queue_prefix: str = "opengp"            # broker queues are <queue_prefix>.<service key>
    reconcile_interval: float = Field(10.0, gt=0)   # how often API servers reap lost workers' jobs
    cancel_grace: float = Field(0.5, ge=0)  # a cancelled tool's time to stop on its own before it is killed
    doorbell_timeout: float = Field(30.0, gt=0)     # queued this long with nothing running: ring again
    job_cache: int = Field(10_000, ge=0)    # jobs an API server answers from memory (store/cache.py); 0: none
    trusted_proxies: str | None = None      # addresses whose X-Forwarded-For is believed ("10.0.0.5,...")
    secret_key: str | None = None           # signs tokens; default: generated into data_dir/secret.key
    token_minutes: int = Field(60, ge=1)            # shortLivedTokenValidity: generateToken's default
    token_max_minutes: int = Field(1440, ge=1)      # the most a client may ask for
    login_attempts: int = Field(5, ge=1)            # failed logins per user or address ...
    login_window: float = Field(300.0, gt=0)        # ... within this many seconds before throttling
    allow_private_urls: bool = False        # let callbacks and fetched inputs reach this machine and private networks
    # an OGC synchronous execution of an asynchronous service waits this long for its job, then answers
    # 201 with the job to follow (docs/ogc.md "Executing"); 0: at once.  Below the usual proxy timeouts (60 s)
    ogc_sync_wait: float = Field(30.0, ge=0)
    # -- webhooks (docs/operations.md "Webhooks"): each delivery is tried again after base, 2 x base,
    # 4 x base... seconds (at most cap), until it has been tried max_attempts times
    webhook_retry_base: float = Field(5.0, gt=0)
    webhook_retry_cap: float = Field(900.0, gt=0)
    webhook_max_attempts: int = Field(15, ge=1)
    webhook_timeout: float = Field(10.0, gt=0)      # for the receiver to answer
    webhook_poll: float = Field(1.0, gt=0)          # how often an API server looks for deliveries due
    # -- logs (docs/operations.md "Logs") ----------------------------------------------------------
    log_format: Literal["text", "json"] = "text"    # servers' and workers' stderr: text, or one JSON object a line
    # what the store keeps for the admin API's logs/query, from every server and worker: records at this
    # level and above (ArcGIS's SEVERE, WARNING, INFO, FINE, VERBOSE, DEBUG; or OFF).  WARNING, ArcGIS
    # Server's default: normal operation writes almost nothing
    log_store_level: str = "WARNING"
    log_store_rows: int = Field(100_000, ge=1)      # at most this many records kept (the oldest go) ...
    log_store_days: float = Field(90.0, gt=0)       # ... and none older (ArcGIS's maxLogFileAge, in days)
    # -- where job files and uploads live (runtime/storage.py, docs/deployment.md "File storage") ------
    files_url: str | None = None            # None: under data_dir; or "s3://bucket/prefix" (opengp[s3])
    s3_endpoint_url: str | None = None      # MinIO, Ceph...: "http://minio:9000"; None: AWS
    s3_region: str | None = None            # None: from the AWS environment (AWS_REGION...)
    # -- metrics (docs/operations.md "Metrics"): /metrics answers 403 unless one of the first two is set
    metrics_token: str | None = None        # Prometheus sends "Authorization: Bearer <it>" (an administrator's token works too)
    metrics_address: str | None = None      # "host:port": a listener of its own serving only /metrics, without a token
    metrics_dir: Path | None = None         # where this machine's opengp processes write metrics; default data_dir/metrics/<host>
    worker_metrics_address: str | None = None   # "host:port": an `opengp worker` serves its /metrics there (no token)
    services: list[ServiceConfig] = []
    datasets: list[DatasetConfig] = []
    product_services: list[ProductServiceConfig] = []
    config_dir: Path = Path(".")            # where relative toolbox paths are resolved

    @model_validator(mode="after")
    def _publish_product_services(self) -> "Settings":
        """Each product service is also a GP service (its jobs run like any tool's)."""
        known = {s.key: s for s in self.services}
        for product_service in self.product_services:
            existing = known.get(product_service.key)
            if existing is None:
                self.services.append(product_service.service_config())
            elif not existing.is_product:
                raise ValueError(f"product service '{product_service.key}' has the name of a GP service")
        keys = [d.key for d in self.datasets]
        if len(set(keys)) != len(keys):
            raise ValueError("two datasets have the same folder and name")
        return self

    @model_validator(mode="after")
    def _broker_needs_a_shared_database(self) -> "Settings":
        if self.broker_url is not None and not (self.database_url or "").startswith("postgresql"):
            raise ValueError(
                "broker_url (Celery workers) needs a PostgreSQL database_url, e.g. "
                "postgresql+psycopg://user@dbhost/opengp: workers on other machines cannot share "
                "a SQLite file" + ("" if self.database_url else " (none is set; the default is SQLite)"))
        if self.broker_url is not None and not self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://",
                                                                            "redis://", "rediss://")):
            raise ValueError("broker_url must be an amqp:// (RabbitMQ) or redis:// URL")
        return self

    @field_validator("log_store_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        from .system.logsetup import level_number

        level_number(v)         # ValueError names the levels
        return v.strip().upper()

    @field_validator("files_url")
    @classmethod
    def _s3_url(cls, v: str | None) -> str | None:
        """``s3://bucket`` or ``s3://bucket/prefix``; credentials never go here (the AWS environment)."""
        if v is None or v == "":
            return None
        if not v.startswith("s3://") or not v[5:].split("/", 1)[0]:
            raise ValueError("files_url must be s3://bucket or s3://bucket/prefix (or unset: files under data_dir)")
        if "@" in v.split("/", 3)[2]:
            raise ValueError("files_url takes no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _processes_need_scale_out(self) -> "Settings":
        """Every API server process must see every job: only the scale-out mode shares them."""
        if self.processes > 1 and not (self.database_url or "").startswith("postgresql"):
            raise ValueError(
                f"processes = {self.processes} needs PostgreSQL (database_url) and a broker (broker_url): "
                "a SQLite database belongs to one server process, which holds its data folder's lock")
        if self.processes > 1 and not self.scale_out:
            raise ValueError(
                f"processes = {self.processes} needs a broker (broker_url) and `opengp worker`s: local workers "
                "belong to the server process that started them, so another process could not cancel or time "
                "out their jobs, max_instances would hold per process, and each process starting would fail "
                "the jobs of the others as interrupted")
        return self

    @field_validator("metrics_address", "worker_metrics_address")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        listen_address(v)
        return v

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, v: str | None) -> str | None:
        if v is not None and len(v) < 16:
            raise ValueError("metrics_token must have at least 16 characters (it guards the server's numbers)")
        return v or None

    @model_validator(mode="after")
    def _metrics_port_of_its_own(self) -> "Settings":
        if self.metrics_address is not None and listen_address(self.metrics_address)[1] == self.port:
            raise ValueError(f"metrics_address needs a port of its own, not the server's ({self.port})")
        return self

    @property
    def metrics_directory(self) -> Path:
        """Where this machine's opengp processes write their metrics (system/metrics.py).  By
        host name: on a data_dir shared by several machines each has its own."""
        return Path(self.metrics_dir).expanduser().resolve() if self.metrics_dir is not None else (
            self.data_dir / "metrics" / socket.gethostname())

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> "Settings":
        """A certificate without its key (or the reverse) would serve plain HTTP by mistake."""
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("HTTPS needs both ssl_certfile and ssl_keyfile (--ssl-certfile, --ssl-keyfile)")
        return self

    @field_validator("ssl_certfile", "ssl_keyfile")
    @classmethod
    def _resolved(cls, v: Path | None) -> Path | None:
        """Relative to where the server was started (spawned server processes may start elsewhere)."""
        return None if v is None else Path(v).expanduser().resolve()

    @property
    def scheme(self) -> str:
        """``https`` when the server serves TLS itself (behind a proxy that ends TLS, see public_url)."""
        return "https" if self.ssl_certfile is not None else "http"

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        """Relative to where the server was started, once: workers and file URLs then agree."""
        return Path(v).expanduser().resolve()

    @property
    def scale_out(self) -> bool:
        """The deployment mode, decided here once: with a broker, API servers share a PostgreSQL
        database and Celery workers run the jobs (docs/scale-out-design.md); without one, a
        single server with its own local workers and data folder."""
        return self.broker_url is not None

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return sqlite_url(self.data_dir)


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9100`` for IPv6) as ``(host, port)``; ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. 0.0.0.0:9100)")
    return host, int(port)


DEMO_SERVICES = [
    {"folder": "Demo", "name": "Tools", "toolbox": "opengp.toolboxes.demo",
     "execution_type": "asynchronous", "max_usage_time": 600, "max_instances": 4, "public": True,
     "description": "Demo geoprocessing tools (buffer, project, clip, summarize) run as jobs."},
    {"folder": "Demo", "name": "ToolsSync", "toolbox": "opengp.toolboxes.demo",
     "execution_type": "synchronous", "max_usage_time": 60, "public": True,
     "description": "The demo tools, run synchronously with execute."},
]


DEMO_TOPO = Path(__file__).resolve().parent / "datasets" / "demo" / "topo.gpkg"
_DEMO_LAYERS = [
    {"title": "Land cover", "dataset": "Demo/Topo", "layer": "landcover",
     "style": {"fill": "#e5f0d8", "color": "#b8cfa3", "width": 0.3}},
    {"title": "Lakes", "dataset": "Demo/Topo", "layer": "lakes",
     "style": {"fill": "#a6cee3", "color": "#1f78b4", "width": 0.5}},
    {"title": "Contours", "dataset": "Demo/Topo", "layer": "contours",
     "style": {"color": "#c2a27c", "width": 0.4}},
    {"title": "Rivers", "dataset": "Demo/Topo", "layer": "rivers", "style": {"color": "#1f78b4", "width": 1.2}},
    {"title": "Roads", "dataset": "Demo/Topo", "layer": "roads", "style": {"color": "#d62728", "width": 1.0}},
    {"title": "Places", "dataset": "Demo/Topo", "layer": "places",
     "style": {"marker": "circle", "fill": "#222222", "size": 4, "label": "name"}},
]
DEMO_DATASETS = [
    {"folder": "Demo", "name": "Topo", "path": str(DEMO_TOPO), "public": True,
     "description": "A small made-up topographic dataset: map sheets, places, roads, rivers, lakes, land cover, contours."},
]
DEMO_PRODUCT_SERVICES = [
    {"folder": "Demo", "name": "Topographic", "public": True, "max_instances": 2,
     "description": "Topographic map sheets of the demo dataset, as PDF, PNG or GeoTIFF.",
     "products": [{
         "name": "Topographic", "description": "A topographic sheet for one map sheet of Demo/Topo (layer 0).",
         "sheet_id_field": "sheet_id",
         "versions": [
             {"name": "Standard", "page": "A4", "orientation": "landscape", "scale": "fit",
              "title": "Topographic map - sheet {sheet_id} {name}", "layers": _DEMO_LAYERS},
             {"name": "Large", "page": "A3", "orientation": "portrait", "scale": "fit", "grid": True,
              "title": "{name} ({sheet_id})", "output_types": ["pdf", "tiff"], "layers": _DEMO_LAYERS},
         ],
     }]},
]


def load_settings(config: Path | None = None, *, demo: bool = False, **overrides: Any) -> Settings:
    """Settings from a TOML file (``[server]``, ``[[services]]``, ``[[datasets]]``, ``[[product_services]]``),
    the demo, and overrides.  Precedence: explicit overrides (CLI flags), then ``OPENGP_*``
    environment variables, then the file, then defaults."""
    data: dict[str, Any] = {}
    if config is not None:
        with open(config, "rb") as fh:
            raw = tomllib.load(fh)
        # the environment overrides the file (one shared file, per-machine OPENGP_* variables)
        data.update({k: v for k, v in raw.get("server", {}).items() if f"OPENGP_{k.upper()}" not in os.environ})
        for section in ("services", "datasets", "product_services"):
            data[section] = raw.get(section, [])
        data["config_dir"] = Path(config).resolve().parent
        unknown = set(raw) - {"server", "services", "datasets", "product_services"}
        if unknown:
            raise ValueError(f"unknown section(s) in {config}: {', '.join(sorted(unknown))}")
    if demo:
        data["services"] = list(data.get("services", [])) + DEMO_SERVICES
        data["datasets"] = list(data.get("datasets", [])) + DEMO_DATASETS
        data["product_services"] = list(data.get("product_services", [])) + DEMO_PRODUCT_SERVICES
    data.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**data)
