"""A machine whose settings differ from its deployment's refuses to start, and says which."""
from __future__ import annotations

import subprocess
import sys

from .conftest import Deployment


def _run(dep: Deployment, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opengp", *args, "--config", str(dep.config)],
                          env={**dep.env, **env}, cwd=dep.tmp, capture_output=True, text=True, timeout=60)


def test_an_api_server_with_another_secret_key_refuses_to_start(rabbit):
    done = _run(rabbit, ["serve", "--port", "9"], OPENGP_SECRET_KEY="another-secret-key-0123456789-abcdef")
    assert done.returncode == 2, done.stderr
    assert "secret_key" in done.stderr and "tokens" in done.stderr
    assert "another-secret-key" not in done.stderr


def test_a_worker_on_other_queues_refuses_to_start(rabbit):
    done = _run(rabbit, ["worker", "-c", "1"], OPENGP_QUEUE_PREFIX=rabbit.prefix + "-other")
    assert done.returncode == 2, done.stderr
    assert "queue_prefix" in done.stderr


def test_a_worker_whose_data_dir_is_not_the_shared_folder_refuses_to_start(rabbit, tmp_path):
    done = _run(rabbit, ["worker", "-c", "1"], OPENGP_DATA_DIR=str(tmp_path / "local"))
    assert done.returncode == 2, done.stderr
    assert "shared folder" in done.stderr


def test_show_lists_what_the_deployment_recorded(rabbit):
    done = _run(rabbit, ["deployment", "show"])
    assert done.returncode == 0, done.stderr
    for name in ("secret_key", "queue_prefix", "shared_folder", rabbit.prefix):
        assert name in done.stdout
