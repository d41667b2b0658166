"""The admin console's webhook pages, driven in Chromium with a real receiver (tests/receiver.py):
a webhook created through the form is told of a job's end, its notification status shows the
receiver's answer, deactivated it is told nothing more, and it is deleted after a confirmation.
The server runs with ``allow_private_urls = true`` (tests/conftest.py), so a receiver on
127.0.0.1 passes the outbound guard."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Iterator

import httpx
import pytest

from api.helpers import submit, wait
from conftest import Server, add_user
from receiver import Receiver
from .test_pages import browser, shot  # noqa: F401  (browser: the module's Chromium, a fixture)

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:     # pragma: no cover - the browser fixture skips
    pass

pytestmark = pytest.mark.browser

NOOP = "/arcgis/rest/services/Test/Jobs/GPServer/Noop"
ROOT_PASSWORD = "root password"


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("webhook-pages"), demo=False)
    # deliveries are looked for every 0.2 s (1 s by default), so the page has them soon
    server.config.write_text(server.config.read_text().replace("[server]\n", "[server]\nwebhook_poll = 0.2\n", 1))
    add_user(server.data_dir, "root", "administrator", ROOT_PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, srv) -> Iterator["Page"]:  # noqa: F811 (the fixture imported above)
    context = browser.new_context(base_url=srv.url, viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    made = (Receiver(), Receiver())
    yield made
    for r in made:
        if r._server is not None:
            r.down()


def ended_job(srv: Server, value: str) -> str:
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        job = submit(c, NOOP, value=value)
        wait(c, NOOP, job)
    return job


def reload_until(page: "Page", selector: str, text: str, timeout: float = 20) -> None:
    """The page is not live: reload it until ``selector`` shows ``text``."""
    deadline = time.monotonic() + timeout
    while text not in page.locator(selector).inner_text():
        assert time.monotonic() < deadline, f"{selector} never showed {text!r}: {page.locator(selector).inner_text()}"
        time.sleep(0.2)
        page.reload()


def test_a_webhook_made_in_the_console_hears_of_jobs_until_deactivated_then_is_deleted(page, srv, receivers):
    hook, other = receivers
    hook.status = 202                       # an answer of its own, for the page to show
    page.goto("/arcgis/admin/console/webhooks?service=Test/Jobs")
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next="))        # signing in comes first
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks of Test/Jobs")
    expect(page.locator("#webhooks tbody")).to_contain_text("No webhooks yet.")

    # a refused create comes back as the page, saying why, with what was typed
    page.get_by_label("Name").fill("audit")
    page.get_by_label("Payload URL").fill("ftp://hooks.example.com/opengp")
    page.get_by_label("Payload format").select_option("pjson")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_role("alert")).to_contain_text("'hookUrl' must be an http(s) URL.")
    expect(page.get_by_label("Name")).to_have_value("audit")
    expect(page.get_by_label("Payload format")).to_have_value("pjson")

    page.get_by_label("Payload URL").fill(hook.url)
    page.get_by_label("Signature key").fill("s3cret")
    page.get_by_label("Payload format").select_option("json")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    row = page.locator("#webhooks tbody tr", has_text="audit")
    expect(row).to_contain_text(hook.url)
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("none yet")

    job = ended_job(srv, "first")
    assert len(hook.wait_for(1)) == 1
    sent = hook.got[0]
    assert json.loads(sent["body"])["jobId"] == job
    signature = "sha256=" + base64.b64encode(hmac.new(b"s3cret", sent["body"], hashlib.sha256).digest()).decode()
    assert sent["headers"]["x-esrihook-signature"] == signature          # the key typed in the form
    reload_until(page, "#webhooks tbody", "HTTP 202")
    expect(page.locator("#webhooks tbody tr", has_text="audit")).to_contain_text("delivered")
    shot(page, "admin-webhooks")

    page.get_by_role("link", name="audit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook audit")
    delivery = page.locator("#deliveries tbody tr", has_text=job)
    expect(delivery).to_contain_text("Succeeded")
    expect(delivery).to_contain_text("delivered")
    expect(delivery).to_contain_text("HTTP 202")
    shot(page, "admin-webhook")

    page.get_by_role("button", name="Deactivate", exact=True).click()
    expect(page.locator("#hook")).to_contain_text("inactive")
    expect(page.get_by_label("Active")).not_to_be_checked()
    # another webhook of the service, still active, shows when the next job's event has gone out
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        token = c.post("/arcgis/admin/generateToken", data={
            "username": "root", "password": ROOT_PASSWORD, "client": "requestip", "f": "json"}).json()["token"]
        made = c.post("/arcgis/admin/services/Test/Jobs.GPServer/webhooks/create", data={
            "f": "json", "token": token, "name": "control", "hookUrl": other.url}).json()
        assert made.get("active") is True, made
    second = ended_job(srv, "second")
    assert [json.loads(g["body"])["jobId"] for g in other.wait_for(1)] == [second]
    time.sleep(0.5)                         # a few delivery rounds more
    assert len(hook.got) == 1, "a deactivated webhook was told of a job"
    page.reload()
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Delete the webhook audit?")
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks of Test/Jobs")
    expect(page.locator("#webhooks tbody tr")).to_have_count(1)
    expect(page.locator("#webhooks tbody")).to_contain_text("control")
    expect(page.locator("#webhooks tbody")).not_to_contain_text("audit")


def active_cell(page: "Page", name: str) -> "Locator":
    return page.locator("#webhooks tbody tr", has_text=name).locator("td").nth(3)


def test_the_console_links_to_a_service_s_webhooks_and_switches_them_all(page, srv):
    page.goto("/arcgis/login?next=%2Farcgis%2Fadmin%2Fconsole%3Fservice%3DTest%252FJobs")
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Admin console")
    page.get_by_role("link", name="Webhooks of Test/Jobs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks of Test/Jobs")
    for name in ("alpha", "beta"):
        page.get_by_label("Name").fill(name)
        page.get_by_label("Payload URL").fill(f"http://127.0.0.1:9/{name}")
        page.get_by_label("Active").uncheck()
        page.get_by_role("button", name="Create webhook").click()
        expect(active_cell(page, name)).to_have_text("inactive")
    page.get_by_role("button", name="Activate all", exact=True).click()
    for name in ("alpha", "beta"):
        expect(active_cell(page, name)).to_have_text("active")
    page.get_by_role("button", name="Deactivate all").click()
    for name in ("alpha", "beta"):
        expect(active_cell(page, name)).to_have_text("inactive")
    page.get_by_role("link", name="Delete all…").click()
    page.get_by_role("button", name="Delete all webhooks").click()
    expect(page.locator("#webhooks tbody")).to_contain_text("No webhooks yet.")
