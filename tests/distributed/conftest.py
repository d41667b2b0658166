"""The distributed suite's deployments (tests/scaleout.py): PostgreSQL (a scratch
database), a broker (RabbitMQ, or Redis), two ``opengp serve`` processes and two
``opengp worker`` processes, serving the Dist/* services below.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import scaleout
from conftest import TOOLBOXES, require
from scaleout import (RABBITMQ_URL, REDIS_URL, _admin_url, _create_database,  # noqa: F401  (used by the tests)
                      _drop_database, _reachable)

CONFIG = """
[server]
heartbeat_interval = 0.5
allow_private_urls = true

[[services]]
folder = "Dist"
name = "Jobs"
toolbox = "{toolbox}"
max_usage_time = 60
public = true

[[services]]
folder = "Dist"
name = "One"
toolbox = "{toolbox}"
max_usage_time = 60
max_instances = 1
public = true

[[services]]
folder = "Dist"
name = "Timed"
toolbox = "{toolbox}"
max_usage_time = 3
public = true

[[services]]
folder = "Dist"
name = "Retry"
toolbox = "{toolbox}"
max_usage_time = 60
retries = 1
public = true

[[services]]
folder = "Dist"
name = "Sync"
toolbox = "{toolbox}"
execution_type = "synchronous"
max_usage_time = 10
public = true
"""


class Deployment(scaleout.Deployment):
    """A deployment serving CONFIG's Dist/* services (unless given another config file)."""

    def __init__(self, tmp: Path, broker_url: str, config: Path | None = None, **kwargs: Any) -> None:
        if config is None:
            config = tmp / "opengp.toml"
            config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
        super().__init__(tmp, broker_url, config, **kwargs)


def deployment(tmp: Path, broker_url: str, **kwargs: Any) -> Iterator[Deployment]:
    """A started deployment serving CONFIG, removed afterwards (for fixtures)."""
    scaleout.require_services(broker_url)
    dep = Deployment(tmp, broker_url, **kwargs)
    try:
        yield dep.start()
    finally:
        dep.stop()


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two API servers and two workers (2 processes each) on RabbitMQ, for the whole session."""
    yield from deployment(tmp_path_factory.mktemp("rabbit"), RABBITMQ_URL)


@pytest.fixture(scope="session")
def redis_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        import redis  # noqa: F401  (kombu's Redis transport needs it)
    except ImportError:
        require(False, "the redis package is not installed (pip install 'opengp[scaleout]')")
    yield from deployment(tmp_path_factory.mktemp("redis"), REDIS_URL, servers=1, workers=1)
