"""The admin console's dashboard in a real browser (Playwright with Debian's Chromium): signing
in first, charts with a bar for the jobs that ran, the failures with their messages and links,
and the charts refreshing by themselves when another job ends."""
from __future__ import annotations

import re
import time

import httpx
import pytest

from conftest import Server, add_user
from .test_pages import browser, page, shot  # noqa: F401 (fixtures shared with the other pages)

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:         # pragma: no cover - the browser fixture reports it
    expect = None

GP = "/arcgis/rest/services/Test/Jobs/GPServer"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("dashboard"), demo=False)
    add_user(server.data_dir, "root", "administrator", "root password")
    server.start()
    yield server
    server.stop()


def run(srv: Server, task: str, **params: str) -> str:
    job = httpx.post(f"{srv.url}{GP}/{task}/submitJob", data={"f": "json", **params}).json()["jobId"]
    while httpx.get(f"{srv.url}{GP}/{task}/jobs/{job}", params={"f": "json"}).json()["jobStatus"] not in (
            "esriJobSucceeded", "esriJobFailed", "esriJobTimedOut", "esriJobCancelled"):
        time.sleep(0.05)
    return job


def bar_total(page, series: str) -> int:
    return page.evaluate(
        "s => [...document.querySelectorAll('#jobs-per-minute rect.bar[data-series=\"' + s + '\"]')]"
        ".reduce((n, r) => n + Number(r.dataset.value), 0)", series)


def test_the_dashboard_charts_the_jobs_and_refreshes_live(page, srv):
    run(srv, "Noop")
    run(srv, "Sleep", seconds="0.5")
    failed = run(srv, "Fail", message="the disk is full")
    timed_out = run(srv, "Sleep", seconds="30")           # past the service's 3 s maxUsageTime
    page.goto("/arcgis/admin/console")
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next="))
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill("root password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Dashboard", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert [bar_total(page, s) for s in ("succeeded", "failed", "timed_out", "cancelled")] == [2, 1, 1, 0]
    expect(page.locator("#durations rect.bar[data-label='Test/Jobs']")).to_have_count(3)     # p50, p90, p99
    p99 = float(page.locator("#durations rect.bar[data-series='p99']").get_attribute("data-value"))
    assert 2.5 < p99 < 10                                   # the timed-out job's ~3 s run
    failures = page.locator("#failures tbody tr")
    expect(failures).to_have_count(2)
    expect(failures.first).to_contain_text("TimedOut")
    expect(page.locator("#failures")).to_contain_text("the disk is full")
    link = page.locator("#failures tbody tr", has_text="the disk is full").get_by_role("link")
    assert failed in (link.get_attribute("href") or "")
    assert timed_out in page.locator("#failures tbody tr").first.get_by_role("link").get_attribute("href")
    page.evaluate("window.__sameDocument = true")
    shot(page, "admin-dashboard")
    # a job that ends now shows up without a reload
    retry = "/arcgis/rest/services/Retry/GPServer/Sleep"        # a service with time to run (30 s)
    running = httpx.post(f"{srv.url}{retry}/submitJob", data={"f": "json", "seconds": "25"}).json()["jobId"]
    expect(page.locator("#queue-depth rect.bar[data-series='running'][data-label='Retry']")).to_have_count(
        1, timeout=15_000)
    run(srv, "Noop")
    page.wait_for_function("() => [...document.querySelectorAll("
                           "'#jobs-per-minute rect.bar[data-series=\"succeeded\"]')]"
                           ".reduce((n, r) => n + Number(r.dataset.value), 0) === 3", timeout=15_000)
    assert page.evaluate("window.__sameDocument === true"), "the dashboard reloaded"
    httpx.post(f"{srv.url}{retry}/jobs/{running}/cancel", data={"f": "json"})


DASHBOARD = "/arcgis/admin/console/dashboard"


def test_signed_out_elsewhere_the_dashboard_goes_to_sign_in(page, srv):
    """Signed out in another tab: the next refresh finds no charts to show, and the page goes to
    sign in (not a sign-in form drawn inside the dashboard)."""
    page.goto(DASHBOARD)
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next="))
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill("root password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    other = page.context.new_page()
    other.goto("/arcgis/admin/console")
    other.get_by_role("button", name="Sign out").click()
    other.close()
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next="), timeout=15_000)
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.locator("#dashboard")).to_have_count(0)


def test_a_dashboard_opened_with_a_token_keeps_it_when_it_refreshes(page, srv):
    token = httpx.post(f"{srv.url}/arcgis/tokens/generateToken", data={
        "username": "root", "password": "root password", "client": "requestip", "f": "json"}).json()["token"]
    page.goto(f"{DASHBOARD}?token={token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.wait_for_function("() => document.getElementById('dashboard').dataset.refreshed", timeout=15_000)
    expect(page.locator("#jobs-per-minute")).to_have_count(1)
    expect(page.locator("#dashboard form")).to_have_count(0)        # no sign-in form swapped in
