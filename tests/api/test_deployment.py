"""The test server itself: under OPENGP_TEST_DEPLOYMENT=scaleout, consecutive requests of a
test really reach different API servers (the proxy's round robin), so the rest of the suite
exercises one server answering for another's jobs; locally, one server answers all."""
from __future__ import annotations

from .helpers import submit, wait

JOBS = "/Test/Jobs/GPServer"


def test_consecutive_requests_alternate_api_servers(server, client):
    # the proxy names the server that answered; a local server is its own answer
    answered = [client.get("/", params={"f": "json"}).headers.get("x-opengp-upstream", server.url)
                for _ in range(4)]
    assert len(set(answered)) == server.servers, answered
    assert server.servers == 1 or all(a != b for a, b in zip(answered, answered[1:])), answered
    job_id = submit(client, f"{JOBS}/Add", a="1", b="2")         # submitted on one server...
    assert wait(client, f"{JOBS}/Add", job_id)["jobStatus"] == "esriJobSucceeded"   # ...polled on all
