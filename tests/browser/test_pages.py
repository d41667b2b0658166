"""Pages for people, driven in a real browser: Playwright with Debian's Chromium.

Chromium comes from apt (``apt-get install chromium``); Playwright's own
browser download is not used.  ``make screenshots`` runs these tests with
``OPENGP_SCREENSHOTS=docs/screenshots`` to refresh the README's pictures.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import Server, add_user, require

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("OPENGP_CHROMIUM", "/usr/bin/chromium")
# `make screenshots` sets this to docs/screenshots; otherwise the pictures are not kept
SHOTS = Path(os.environ["OPENGP_SCREENSHOTS"]) if os.environ.get("OPENGP_SCREENSHOTS") else None
POLYGON = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
           "features": [{"geometry": {"x": 7.44, "y": 46.95}, "attributes": {"name": "Bern"}},
                        {"geometry": {"x": 7.46, "y": 46.96}, "attributes": {"name": "North"}}]}

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError as exc:      # pragma: no cover - reported by require() below
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("pages"))
    add_user(server.data_dir, "alice", "user", "alice password")
    add_user(server.data_dir, "root", "administrator", "root password")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    require(_IMPORT_ERROR is None, f"playwright is not installed: {_IMPORT_ERROR}")
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser, srv):
    context = browser.new_context(base_url=srv.url, viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def shot(page: "Page", name: str) -> None:
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_task(page: "Page", task_label: str) -> None:
    page.goto("/arcgis/rest/services?f=html")
    page.get_by_role("link", name="Demo", exact=True).click()
    page.get_by_role("link", name="Demo/Tools", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo/Tools (GPServer)")
    page.get_by_role("link", name=task_label, exact=True).click()


def test_browse_submit_and_watch_a_job_live(page):
    open_task(page, "Slow")
    shot(page, "task-form")
    page.get_by_label("Seconds").fill("3")
    page.get_by_label("Stages").fill("3")
    page.get_by_role("button", name="Submit Job").click()
    page.wait_for_url(re.compile(r"/jobs/j[0-9a-f]{32}"))
    page.evaluate("window.__sameDocument = true")          # gone if the page reloads
    page.wait_for_function("document.getElementById('progress').value > 0")
    expect(page.locator("#stage")).to_have_text(re.compile(r"Stage \d of 3"))
    shot(page, "job-running")
    expect(page.locator("#status")).to_have_text("Succeeded", timeout=20_000)
    assert page.evaluate("document.getElementById('progress').value") == 100
    expect(page.locator("#messages li")).to_contain_text(["Submitted."])
    expect(page.locator("#results")).to_contain_text("Finished 3 stages")
    expect(page.locator("#cancel")).to_be_hidden()
    assert page.evaluate("window.__sameDocument === true"), "the job page reloaded"


def test_wrong_input_is_shown_beside_its_field_with_the_values_kept(page):
    open_task(page, "Slow")
    page.get_by_label("Seconds").fill("soon")
    page.get_by_label("Stages").fill("2")
    page.get_by_role("button", name="Submit Job").click()
    error = page.locator("#err-seconds")
    expect(error).to_contain_text("seconds")
    expect(page.get_by_label("Seconds")).to_have_value("soon")
    expect(page.get_by_label("Stages")).to_have_value("2")
    expect(page.get_by_label("Seconds")).to_have_attribute("aria-invalid", "true")
    shot(page, "task-error")


def test_cancel_a_slow_job_from_its_page(page):
    open_task(page, "Slow")
    page.get_by_label("Seconds").fill("60")
    page.get_by_role("button", name="Submit Job").click()
    expect(page.locator("#status")).to_have_text("Executing")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#status")).to_have_text("Cancelled", timeout=15_000)
    expect(page.locator("#messages")).to_contain_text("Cancel")


def test_feature_results_are_drawn_and_files_download(page):
    open_task(page, "Buffer Features")
    page.get_by_role("textbox", name=re.compile("^Input Features")).fill(json.dumps(POLYGON))
    page.get_by_role("button", name="Submit Job").click()
    expect(page.locator("#status")).to_have_text("Succeeded")
    expect(page.locator("svg.preview path.feature")).to_have_count(2)
    expect(page.locator("#results figcaption")).to_have_text("2 feature(s)")
    shot(page, "job-features")
    open_task(page, "Write Report")
    page.get_by_role("textbox", name=re.compile("^Input Features")).fill(json.dumps(POLYGON))
    page.get_by_role("button", name="Submit Job").click()
    expect(page.locator("#status")).to_have_text("Succeeded")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    text = Path(download.value.path()).read_text()
    assert "Bern" in text and "North" in text


@pytest.mark.parametrize("latitude", [50.0, 0.0])
def test_a_round_buffer_is_drawn_round(page, srv, latitude):
    """A 500 m buffer is a circle on the ground; drawn from longitude and latitude at equal
    scale it would be 1/cos(50°) = 1.56 times wider than tall, and a user would blame the tool."""
    import httpx
    task = f"{srv.url}/arcgis/rest/services/Demo/Tools/GPServer/BufferFeatures"
    point = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
             "features": [{"geometry": {"x": 7.44, "y": latitude}, "attributes": {}}]}
    job = httpx.post(f"{task}/submitJob", data={
        "f": "json", "input_features": json.dumps(point),
        "distance": json.dumps({"distance": 500, "units": "esriMeters"})}).json()["jobId"]
    page.goto(f"{task}/jobs/{job}?f=html")
    expect(page.locator("#status")).to_have_text("Succeeded")
    box = page.locator("svg.preview path.feature").evaluate("p => { const b = p.getBBox(); "
                                                           "return [b.width, b.height]; }")
    assert box[0] / box[1] == pytest.approx(1, rel=0.05), box


def test_messages_filter_by_level(page):
    open_task(page, "Fail")
    page.get_by_role("button", name="Submit Job").click()
    expect(page.locator("#status")).to_have_text("Failed")
    errors = page.locator("#messages li.error")
    expect(errors.first).to_be_visible()
    page.get_by_label("error").uncheck()
    expect(errors.first).to_be_hidden()
    expect(page.locator("#messages li.warning").first).to_be_visible()


def test_sign_in_and_out(page, srv):
    page.goto("/arcgis/rest/services/Test?f=html")
    expect(page.locator("main")).not_to_contain_text("Test/Members")      # for signed-in users only
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")
    expect(page.get_by_label("User name")).to_have_value("alice")
    page.get_by_label("Password").fill("alice password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/arcgis/rest/services/Test\?f=html$"))
    expect(page.locator(".who")).to_contain_text("Signed in as alice")
    expect(page.locator("main")).to_contain_text("Test/Members")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".who")).to_contain_text("Sign in")


def _upload_and_run(page: "Page", tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("sent from a page")
    page.goto("/arcgis/rest/services/Test/Jobs/GPServer/ReadFile?f=html")
    page.get_by_label("or upload a file").set_input_files(str(note))


def test_a_data_file_is_uploaded_from_the_form(page, tmp_path):
    _upload_and_run(page, tmp_path)
    expect(page.get_by_role("textbox", name=re.compile("^Data"))).to_have_value(re.compile(r'"itemID":"i[0-9a-f]{32}"'))
    page.get_by_role("button", name="Submit Job").click()
    expect(page.locator("#status")).to_have_text("Succeeded")
    expect(page.locator("#results")).to_contain_text("sent from a page")


def test_pages_work_without_javascript(browser, srv, tmp_path):
    """Forms, errors, uploads and cancel are plain HTML; only live updates and the map need scripts."""
    context = browser.new_context(base_url=srv.url, java_script_enabled=False)
    page = context.new_page()
    try:
        _upload_and_run(page, tmp_path)
        page.get_by_role("button", name="Submit Job").click()
        page.wait_for_url(re.compile(r"/jobs/j[0-9a-f]{32}"))
        for _ in range(50):                     # no live updates without scripts: reload until done
            if page.locator("#status").inner_text() == "Succeeded":
                break
            page.wait_for_timeout(200)
            page.reload()
        expect(page.locator("#results")).to_contain_text("sent from a page")
        page.goto("/arcgis/rest/services/Demo/Tools/GPServer/Slow?f=html")
        page.get_by_label("Seconds").fill("60")
        page.get_by_role("button", name="Submit Job").click()
        page.get_by_role("button", name="Cancel job").click()
        expect(page.locator("#status")).to_have_text(re.compile("Cancel"))
    finally:
        context.close()


def sign_in(page: "Page", name: str, password: str, start: str = "/arcgis/rest/services?f=html") -> None:
    page.goto(f"/arcgis/login?next={start.replace('?', '%3F').replace('=', '%3D')}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who")).to_contain_text(f"Signed in as {name}")


def test_the_admin_console_filters_pages_and_acts(page, srv):
    import httpx

    ids = [httpx.post(f"{srv.url}/arcgis/rest/services/Test/Jobs/GPServer/Noop/submitJob",
                      data={"f": "json", "value": str(i)}).json()["jobId"] for i in range(5)]
    failed = httpx.post(f"{srv.url}/arcgis/rest/services/Test/Jobs/GPServer/Fail/submitJob",
                        data={"f": "json"}).json()["jobId"]
    slow = httpx.post(f"{srv.url}/arcgis/rest/services/Test/Jobs/GPServer/Sleep/submitJob",
                      data={"f": "json", "seconds": "2.5"}).json()["jobId"]
    page.goto("/arcgis/admin/console")
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next="))        # signing in comes first
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill("root password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Admin console")
    page.get_by_label("Service").select_option("Test/Jobs")
    page.get_by_label("Status").select_option("esriJobFailed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    expect(page.locator("#jobs tbody")).to_contain_text(failed)
    page.get_by_label("Status").select_option("")
    page.get_by_label("Per page").fill("3")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    expect(page.locator("#jobs tbody tr").first).to_contain_text(slow)         # newest first
    seen = page.locator("#jobs tbody td:first-child").all_inner_texts()
    page.get_by_role("link", name="Older").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    assert not set(page.locator("#jobs tbody td:first-child").all_inner_texts()) & set(seen)
    shot(page, "admin-console")
    page.get_by_role("link", name="Newer").click()
    row = page.locator("#jobs tbody tr", has_text=slow)
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator("#jobs tbody tr", has_text=slow)).to_contain_text("Cancel")
    page.locator("#jobs tbody tr", has_text=ids[-1]).get_by_role("button", name="Delete").click()
    expect(page.locator("#jobs tbody")).not_to_contain_text(ids[-1])
    # service operations appear with their stages
    token = httpx.post(f"{srv.url}/arcgis/admin/generateToken", data={
        "username": "root", "password": "root password", "client": "requestip", "f": "json"}).json()["token"]
    for op in ("stop", "start"):
        httpx.post(f"{srv.url}/arcgis/admin/services/Retry.GPServer/{op}", data={"f": "json", "token": token})
    page.reload()
    first = page.locator("#admin-jobs tbody tr").first
    expect(first).to_contain_text("start")
    expect(first).to_contain_text("writing configuration: completed")


def test_the_admin_api_opened_in_a_browser_signs_in_then_shows_pages(page):
    page.goto("/arcgis/admin")
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next=%2Farcgis%2Fadmin$"))   # not a JSON 499
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill("root password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/arcgis/admin$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("opengp administration")
    page.get_by_role("link", name="/arcgis/admin/services").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Services")
    expect(page.locator("body")).to_contain_text("Tools")


def test_a_plain_user_gets_no_console(page):
    sign_in(page, "alice", "alice password")
    expect(page.get_by_role("link", name="Admin console")).to_have_count(0)
    page.goto("/arcgis/admin/console")
    expect(page.get_by_role("alert")).to_contain_text("not authorized")


def test_pages_are_small_and_every_control_is_labelled(page, srv):
    """No page over 100 KB before data (HTML + its CSS and scripts), and every form control has a name."""
    import httpx

    job = httpx.post(f"{srv.url}/arcgis/rest/services/Demo/Tools/GPServer/Echo/submitJob", data={"f": "json"}).json()
    urls = ["/arcgis/rest/services?f=html", "/arcgis/rest/services/Demo/Tools/GPServer?f=html",
            "/arcgis/rest/services/Demo/Tools/GPServer/Echo?f=html",
            "/arcgis/rest/services/Demo/Tools/GPServer/BufferFeatures?f=html",
            f"/arcgis/rest/services/Demo/Tools/GPServer/Echo/jobs/{job['jobId']}?f=html", "/arcgis/login"]
    sizes: list[int] = []
    page.on("response", lambda r: sizes.append(len(r.body())))
    for url in urls:
        sizes.clear()
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert 0 < sum(sizes) < 100_000, (url, sizes)
        unnamed = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
            .map(e => e.outerHTML)""")
        assert unnamed == [], (url, unnamed)


def test_without_event_source_the_page_polls(browser, srv):
    context = browser.new_context(base_url=srv.url)
    context.add_init_script("delete window.EventSource")
    page = context.new_page()
    try:
        open_task(page, "Slow")
        page.get_by_label("Seconds").fill("2")
        page.get_by_label("Stages").fill("2")
        page.keyboard.press("Enter")                 # the keyboard submits the form
        page.wait_for_url(re.compile(r"/jobs/j[0-9a-f]{32}"))
        page.evaluate("window.__sameDocument = true")
        expect(page.locator("#stage")).to_have_text(re.compile(r"Stage \d of 2"))
        expect(page.locator("#status")).to_have_text("Succeeded", timeout=20_000)
        expect(page.locator("#results")).to_contain_text("Finished 2 stages")
        assert page.evaluate("window.__sameDocument === true")
    finally:
        context.close()


def test_errors_are_pages_and_secured_pages_ask_to_sign_in(page):
    page.goto("/arcgis/rest/services/Demo/Tools/GPServer/NoSuchTask?f=html")
    expect(page.get_by_role("alert")).to_contain_text("NoSuchTask")
    page.goto("/arcgis/rest/services/Test/Members/GPServer?f=html")
    expect(page).to_have_url(re.compile(r"/arcgis/login\?next="))
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("alice password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Test/Members (GPServer)")


def test_a_synchronous_service_executes_from_its_form(page):
    page.goto("/arcgis/rest/services/Demo/ToolsSync/GPServer/Echo?f=html")
    page.get_by_label("Text").fill("run now")
    page.get_by_role("button", name="Execute").click()
    page.wait_for_url(re.compile(r"/jobs/j[0-9a-f]{32}"))
    expect(page.locator("#status")).to_have_text("Succeeded")
    expect(page.locator("#results")).to_contain_text("run now")
