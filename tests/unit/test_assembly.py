"""The composition root (jobs/assembly.py): an API server's parts are built from Settings,
wired to each other when they are made (nothing set afterwards), and the deployment mode is
decided in one place.  Local mode here, with real worker processes; the scale-out build is
exercised by the scale-out pass of the HTTP suite."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import opengp
from opengp.config import Settings, load_settings
from opengp.core import Status
from opengp.datasets.catalog import Catalog
from opengp.jobs.assembly import open_api_server

SRC = Path(opengp.__file__).parent


@pytest.mark.timeout(120)
def test_a_local_server_is_built_whole_and_runs_a_job_to_its_waiter(tmp_path):
    settings = load_settings(None, data_dir=tmp_path / "data", demo=True)

    async def scenario() -> None:
        server = await open_api_server(settings, Catalog.from_settings(settings))
        try:
            assert server.jobs.executor is server.executor and server.services.jobs is server.jobs
            assert server.jobs.feature_inputs is not None and server.reconciler is None
            assert "Demo/Tools" in server.registry.services
            # the worker's end reaches the signals the job service waits on (wait() would also
            # re-read every half second: this waits on the signal alone)
            job = await server.jobs.submit("Demo/Tools", "Echo", {"text": "hi"}, synchronous=False)
            ended = server.jobs.signals.waiter(job.id)
            if not server.store.get(job.id).status.terminal:
                await asyncio.wait_for(ended, 60)
            assert server.store.get(job.id).status is Status.SUCCEEDED
            job = await asyncio.wait_for(server.jobs.execute("Demo/ToolsSync", "Echo", {"text": "hi"}), 60)
            assert job.status is Status.SUCCEEDED and job.results["out_text"]["value"] == "hi"
            with pytest.raises(RuntimeError, match="another opengp server"):
                await open_api_server(settings, Catalog.from_settings(settings))   # one server per data folder
        finally:
            await server.close()
        again = await open_api_server(settings, Catalog.from_settings(settings))   # close let go of the folder
        await again.close()

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_server_that_fails_to_start_lets_go_of_what_it_opened(tmp_path):
    """A step failing half-way (here the token secret, after the data folder's lock and the
    store are taken) closes them again: the next start is not refused as "another server"."""
    bad = load_settings(None, data_dir=tmp_path / "data", demo=True, secret_key="too short")
    good = load_settings(None, data_dir=tmp_path / "data", demo=True)

    async def scenario() -> None:
        try:
            await open_api_server(bad, Catalog.from_settings(bad))
        except ValueError as exc:   # kept: its traceback holds what the failed start held, as a log would
            failed = exc
        assert "32 characters" in str(failed)
        server = await open_api_server(good, Catalog.from_settings(good))
        await server.close()

    asyncio.run(scenario())


def test_the_deployment_mode_is_decided_once():
    """Only Settings says whether this is a scale-out deployment (``Settings.scale_out``);
    everything else asks it, so the rule cannot drift between places."""
    # any read of the broker URL outside Settings, but the Celery app's connection to it
    found = [f"{path.relative_to(SRC)}:{n}" for path in SRC.rglob("*.py") if path.name != "config.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"\.broker_url\b", line) and "broker=settings.broker_url" not in line]
    assert found == []
    assert Settings(broker_url="redis://127.0.0.1:6379/0", database_url="postgresql+psycopg://x@h/db").scale_out
    assert not Settings().scale_out


def test_nothing_builds_a_job_service_without_its_executor():
    """The job service is made complete: no ``executor=None`` to be filled in later."""
    found = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
             if re.search(r"JobService\([^)]*executor\s*=\s*None", path.read_text())]
    assert found == []
