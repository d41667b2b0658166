"""SQLAlchemy Core tables: jobs (their large values, their counts), users and revoked tokens.  Alembic migrations
(``opengp/migrations``) mirror these."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text, text

from ..core import Status
from ..core.status import QUEUED


def sql_literals(values: Iterable[str]) -> str:
    """``'a', 'b'``: our own enum values as a SQL list (never user input)."""
    return ", ".join(f"'{v}'" for v in values)


def status_literals(statuses: Iterable[Status]) -> str:
    """The statuses as a SQL list, in the order of their declaration (index predicates must be
    spelled identically wherever they are used)."""
    wanted = set(statuses)
    return sql_literals(s.value for s in Status if s in wanted)


# The predicate of the partial index ix_jobs_queued (migration 0006, which spells it out itself):
# the claims' SQL must use the very same text for the databases to use the index.
CLAIMABLE = f"status IN ({status_literals(QUEUED)}) AND kind <> 'admin'"

FINISHED = "finished IS NOT NULL"         # the predicate of ix_jobs_finished (migration 0011)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("service", String(255), nullable=False),
    Column("task", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(255)),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("started", Float),
    Column("finished", Float),
    Column("progress", Text),     # JSON text, orjson-encoded (faster than the JSON type)
    Column("messages", Text),     # JSON list of [time, level, text]
    Column("inputs", Text),
    Column("options", Text),
    Column("results", Text),
    Column("error", Text),
    Column("request_id", String(64)),
    Column("operation_uri", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker", String(255)),
    Column("heartbeat", Float),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("expires", Float),
    Column("stored_inputs", Text),  # {name: size} of the inputs kept in job_values (migration 0008)
    # a service's jobs newest first: all, by status, by owner (migration 0004)
    Index("ix_jobs_service_kind_created", "service", "kind", "created"),
    Index("ix_jobs_status_service_kind_created", "status", "service", "kind", "created"),
    Index("ix_jobs_service_kind_owner_created", "service", "kind", "owner", "created"),
    Index("ix_jobs_owner_created", "owner", "created"),
    Index("ix_jobs_created", "created"),
    Index("ix_jobs_expires", "expires"),
    # the jobs a worker may claim, oldest first per service (migration 0006)
    Index("ix_jobs_queued", "service", "created", "id",
          postgresql_where=text(CLAIMABLE), sqlite_where=text(CLAIMABLE)),
    # ended jobs by when they ended: usage reports, statistics, the dashboard (store/usage.py,
    # migration 0011); partial, so a job costs it nothing until it ends
    Index("ix_jobs_finished", "finished", postgresql_where=text(FINISHED), sqlite_where=text(FINISHED)),
)

# A job's values too large for its row (store/values.py, migration 0008): its JSON, unparsed.
job_values = Table(
    "job_values",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("role", String(16), primary_key=True),        # input, result or preview
    Column("name", String(255), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# Exact counts of finished jobs without counting rows: triggers on ``jobs``
# (migration 0004) append +1/-1 rows to ``job_count_deltas`` in the writing
# transaction as jobs finish or go (appends, so concurrent writers never wait on
# a shared counter row); the store folds them into ``job_counts`` now and then.
# A count is the sum over both tables.  A NULL owner is counted under ''.

job_counts = Table(
    "job_counts",
    metadata,
    Column("service", String(255), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("task", String(255), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("owner", String(255), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

job_count_deltas = Table(
    "job_count_deltas",
    metadata,
    Column("service", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("task", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("n", Integer, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("roles", String(255), nullable=False),       # comma-separated, canonical order
    Column("password_hash", Text, nullable=False),      # argon2
    Column("token_epoch", Integer, nullable=False, default=0),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("expires", Float, nullable=False),           # kept until the token would have expired anyway
    Index("ix_revoked_tokens_expires", "expires"),
)


services = Table(
    "services",
    metadata,
    Column("key", String(255), primary_key=True),       # "Folder/Name" or "Name"
    Column("config", Text, nullable=False),             # ServiceConfig as JSON
    Column("state", String(16), nullable=False),        # STARTED or STOPPED
    Column("owner", String(64)),                        # the publisher who created it
    Column("origin", String(16), nullable=False),       # "config" (the config file) or "admin"
    Column("config_digest", String(64)),                # of the config file entry last imported
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)


dismissed_jobs = Table(
    "dismissed_jobs",
    metadata,
    Column("id", String(64), primary_key=True),         # a job dismissed through OGC API - Processes
    Column("owner", String(255)),                       # who may learn it is gone (410) rather than unknown
    Column("expires", Float, nullable=False),           # remembered until the job would have expired
    Index("ix_dismissed_jobs_expires", "expires"),
)


deployment = Table(
    "deployment",
    metadata,
    Column("name", String(64), primary_key=True),      # a setting every machine must share (store/deployment.py)
    Column("value", String(255), nullable=False),       # its value, or a digest of it when it is a secret
    Column("recorded_by", String(255), nullable=False), # host name of the machine that recorded it first
    Column("recorded_at", Float, nullable=False),
)


# GP service webhooks (admin API, store/webhooks.py, migration 0009)
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("service", String(255), nullable=False),     # the service's key ("Folder/Name")
    Column("name", String(255), nullable=False),        # unique per service
    Column("hook_url", Text, nullable=False),
    Column("signature_key", Text),                      # HMAC-SHA256 key of x-esriHook-Signature
    Column("active", Boolean, nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("payload_format", String(16), nullable=False),
    Column("change_types", Text, nullable=False),       # JSON list
    Column("owner", String(255)),
    Column("modified_by", String(255)),
    Column("created", Float, nullable=False),
    Column("modified", Float, nullable=False),
    Index("ux_webhooks_service_name", "service", "name", unique=True),
)

# What must be delivered (store/outbox.py, migration 0009): written in the transaction that ends a
# job, so no end is lost to a crash; any API server delivers it (leased), at least once.
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(160), primary_key=True),        # the delivery id: "<job id>:<webhook id>"
    Column("kind", String(16), nullable=False),         # "webhook", or "callback" (OGC API - Processes)
    Column("target", String(64), nullable=False),       # the webhook's id; a callback's event
    Column("url", Text),                                # a callback's URL (a webhook's is its own)
    Column("job_id", String(64), nullable=False),
    Column("service", String(255), nullable=False),
    Column("task", String(255), nullable=False),
    Column("status", String(16), nullable=False),       # the job's end
    Column("event_time", Float, nullable=False),        # when it ended
    Column("state", String(16), nullable=False),        # waiting (a callback's event), pending, delivered, failed, dropped
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", Float, nullable=False),
    Column("leased_by", String(255)),
    Column("lease_until", Float),
    Column("last_code", Integer),
    Column("last_error", Text),
    Column("history", Text),                            # JSON list of the attempts: [time, code, error]
    Column("updated", Float, nullable=False),
    Index("ix_outbox_due", "state", "next_attempt"),
    Index("ix_outbox_target_time", "target", "event_time"),
    Index("ix_outbox_job", "job_id"),
)


# The server log kept in the store (store/logs.py, migration 0010): every API server's and
# worker's records at log_store_level and above, bounded by rows and age (trimmed by the purge)
logs = Table(
    "logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),         # epoch milliseconds (ArcGIS's log times)
    Column("level", Integer, nullable=False),           # a Python level (logging.WARNING: 30)
    Column("logger", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("machine", String(255), nullable=False),
    Column("process", Integer, nullable=False),
    Column("thread", String(64), nullable=False),
    Column("method", String(255), nullable=False),
    Column("job_id", String(64)),                       # the job the line is about
    Column("request_id", String(64)),                   # the request served, or that submitted the job
    Column("service", String(255)),
    Column("username", String(255)),
    Index("ix_logs_time", "time"),
    Index("ix_logs_job", "job_id"),
)


# Usage report definitions (admin API usagereports, store/reports.py, migration 0011)
usage_reports = Table(
    "usage_reports",
    metadata,
    Column("name", String(255), primary_key=True),      # ArcGIS's reportname: the report's URL
    Column("definition", Text, nullable=False),         # since, from, to, aggregationInterval, queries, metadata (JSON)
    Column("owner", String(255)),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)


INT4_MAX = 2**31 - 1            # the largest value of an Integer column on PostgreSQL


def storable_text(value: str) -> bool:
    """Could a text column hold this, or be searched for it?  Not with a NUL in it: PostgreSQL
    text cannot hold one, and its driver refuses such a parameter, so a client's value with one
    is refused (or, as an id, unknown), never sent."""
    return "\x00" not in value


def storable_id(job_id: str) -> bool:
    """Could a job have this id (``storable_text``)?  A client's junk id is unknown, never sent."""
    return storable_text(job_id)
