"""Where a setting comes from: CLI flags over OPENGP_* variables over the file over defaults.

A deployment shares one config file and sets per-machine values in the
environment (systemd's EnvironmentFile, compose's environment), so the
environment must win over the file.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from opengp.config import load_settings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "opengp.toml"
    path.write_text('[server]\nport = 8100\nworkers = 3\nheartbeat_interval = 2.5\n')
    return path


def test_the_file_sets_what_the_environment_does_not(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENGP_PORT", raising=False)
    settings = load_settings(config)
    assert (settings.port, settings.workers, settings.heartbeat_interval) == (8100, 3, 2.5)


def test_the_environment_overrides_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENGP_PORT", "8200")
    monkeypatch.setenv("OPENGP_HEARTBEAT_INTERVAL", "1.5")
    settings = load_settings(config)
    assert (settings.port, settings.workers, settings.heartbeat_interval) == (8200, 3, 1.5)


def test_flags_override_the_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENGP_PORT", "8200")
    assert load_settings(config, port=8300).port == 8300
