"""The test deployment itself: under OPENGP_TEST_DEPLOYMENT=scaleout, consecutive requests
of a test really reach different API servers (the proxy's round robin), so the rest of the
suite exercises one server answering for another's jobs."""
from __future__ import annotations

import pytest

from conftest import SCALEOUT

from .helpers import submit, wait

JOBS = "/Test/Jobs/GPServer"


@pytest.mark.skipif(not SCALEOUT, reason="about the scale-out deployment's proxy")
def test_consecutive_requests_alternate_api_servers(client):
    answered = [client.get("/", params={"f": "json"}).headers["x-opengp-upstream"] for _ in range(4)]
    assert len(set(answered)) == 2 and all(a != b for a, b in zip(answered, answered[1:])), answered
    job_id = submit(client, f"{JOBS}/Add", a="1", b="2")         # submitted on one server...
    assert wait(client, f"{JOBS}/Add", job_id)["jobStatus"] == "esriJobSucceeded"   # ...polled on both
