"""The retention sweep runs in one process at a time: in a scale-out deployment every API server
sweeps, and without the lock they would all delete the same jobs and files at once."""
from __future__ import annotations

import asyncio
import time

from opengp.core import Job, Status
from opengp.jobs.service import JobService
from opengp.store.sql import SqlStore
from opengp.tools.registry import Registry

from conftest import fresh_postgres


def test_a_sweep_waits_its_turn_while_another_process_sweeps(tmp_path):
    url = fresh_postgres()
    store, other = SqlStore(url), SqlStore(url, migrate=False)
    jobs = JobService(store, Registry([]), executor=None, data_dir=tmp_path)     # type: ignore[arg-type]
    try:
        expired = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUCCEEDED, finished=time.time() - 10,
                                                           expires=time.time() - 1)
        store.create(expired)
        with other.try_lock("purge") as theirs:        # another API server is sweeping
            assert theirs
            assert asyncio.run(jobs.purge_expired()) == 0
            assert store.get(expired.id) is not None
        assert asyncio.run(jobs.purge_expired()) == 1   # its turn now
        assert store.get(expired.id) is None
        with other.try_lock("purge") as theirs:         # and this one let go of the lock
            assert theirs
    finally:
        store.close()
        other.close()
