"""The Key Adult's acknowledgement page in a real browser (Debian's headless chromium).

A FastAPI app holding only acknowledgement_routes() with an in-memory store, served by
uvicorn on 127.0.0.1 in a thread; no Kafka. The pages have no script and their
Content-Security-Policy forbids any (checked below), so what the browser does here is what it
does without JavaScript: chromedriver itself needs JavaScript on to click, so it stays on.
Screenshots go to /tmp/encompass-ack-*.png.

Chromium must be installed: deploy/browser/ensure-chromium.sh. Without it these tests fail.
"""
import base64
import socket
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from referral_hub.adapters.ack_tokens import issue
from referral_hub.services.ingest.acknowledge import acknowledgement_routes
from tests.factories import encompass_record

SECRET = "browser-test-secret-0123456789abcdef"
SCREENSHOTS = Path("/tmp")
NOW = datetime(2026, 11, 23, 8, 2, tzinfo=UTC)


def record(referral_id: str, **changes) -> dict:
    return encompass_record(**({"referral_id": referral_id, "acknowledged_at": None} | changes))


class MemoryStore:
    """The store interface: get() and async acknowledge(), first acknowledgement wins."""

    def __init__(self, *records: dict):
        self.records = {r["referral_id"]: dict(r) for r in records}
        self.acknowledge_calls: list[tuple[str, datetime]] = []
        self.acknowledgements: list[tuple[str, datetime]] = []
        self._lock = threading.Lock()

    def get(self, referral_id: str) -> dict | None:
        found = self.records.get(referral_id)
        return dict(found) if found else None

    async def acknowledge(self, referral_id: str, at: datetime) -> bool:
        with self._lock:
            self.acknowledge_calls.append((referral_id, at))
            if self.records[referral_id]["acknowledged_at"] is not None:
                return False
            self.records[referral_id]["acknowledged_at"] = at
            self.acknowledgements.append((referral_id, at))
            return True


class FixedClock:
    def __init__(self, now: datetime):
        self.moment = now

    def now(self) -> datetime:
        return self.moment


BROWSER_REF = "ref-00000000000000000000b001"
HTTP_REF = "ref-00000000000000000000b002"
RACE_REF = "ref-00000000000000000000b003"
DONE_REF = "ref-00000000000000000000b004"
HOSTILE_REF = "ref-00000000000000000000b005"


@pytest.fixture(scope="module")
def store():
    return MemoryStore(
        record(BROWSER_REF), record(HTTP_REF), record(RACE_REF),
        record(DONE_REF, acknowledged_at=datetime(2026, 11, 23, 7, 45, tzinfo=UTC)),
        record(HOSTILE_REF, child={"person_id": "p-x", "given_name": "<script>alert(1)</script>",
                                   "family_name": "O'Brien", "date_of_birth": date(2016, 1, 2)}))


@pytest.fixture(scope="module")
def base_url(store):
    app = FastAPI()
    app.include_router(acknowledgement_routes(store, SECRET, FixedClock(NOW)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from the start: no race for it
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def link(base_url: str, referral_id: str) -> str:
    return f"{base_url}/acknowledge/{issue(referral_id, SECRET)}"


def expired_link(base_url: str, referral_id: str, monkeypatch) -> str:
    with monkeypatch.context() as patch:  # signed 7 days and 1 minute ago
        signed = int(time.time()) - 7 * 24 * 3600 - 60
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: signed)
        return link(base_url, referral_id)


def screenshot(driver, name: str) -> Path:
    """The whole page, not only the phone's first screen."""
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    path = SCREENSHOTS / f"encompass-ack-{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def status_after_click(driver, button_id: str = "acknowledge") -> str:
    """Press the button; the text of the next page's #status once it has loaded."""
    old_page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, button_id).click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "html") != old_page
                                    and d.find_elements(By.ID, "status"))
    return driver.find_element(By.ID, "status").text


def page_width(driver) -> int:
    """The page's scroll width in CSS pixels (read through CDP: the page itself runs no script)."""
    width = driver.execute_cdp_cmd("Runtime.evaluate", {
        "expression": "Math.max(...[...document.querySelectorAll('*')].map("
                      "e => e.getBoundingClientRect().right))", "returnByValue": True})
    return width["result"]["value"]


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_key_adult_reads_and_acknowledges_once(browser, base_url, store):
    url = link(base_url, BROWSER_REF)
    browser.get(url)
    assert browser.title == "Operation Encompass: please acknowledge"
    heading = browser.find_element(By.TAG_NAME, "h1")
    assert heading.is_displayed() and heading.text == "Amelia Carter"
    page = text(browser)
    assert page.startswith("Operation Encompass\nVICTIM SAFE TO CONTACT: NO.")
    for expected in ("Friday 20 November at 21:50 (UK time)", "Amelia was present during the incident.",
                     "Where\nAt the home the two adults share",
                     "Amelia told the officer she hid in her room and was worried about her mum. "
                     "(the officer's words)",
                     "VICTIM SAFE TO CONTACT: NO.\nDo not contact the parent about this.",
                     "Merseyside Police MP-2026-0004711", "date of birth 3 May 2015",
                     "Do not ask the child about the incident.",
                     "before school starts (08:30 on Monday 23 November)"):
        assert expected in page
    button = browser.find_element(By.ID, "acknowledge")
    assert button.is_displayed() and button.text == "Acknowledge"
    assert button.size["height"] >= 44  # a finger-sized target on a phone
    assert page_width(browser) <= 390  # no sideways scrolling on the phone
    screenshot(browser, "page")

    # The Key Adult opened the email twice: a second tab holds the page with its button.
    first_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(url)
    second_tab = browser.current_window_handle
    browser.switch_to.window(first_tab)

    assert status_after_click(browser) == "Acknowledged. Thank you."
    assert "You acknowledged the Operation Encompass notification about Amelia Carter " \
        "at 08:02 on Monday 23 November." in text(browser)
    screenshot(browser, "confirmed")

    browser.switch_to.window(second_tab)
    assert status_after_click(browser) == "Already acknowledged"  # pressed again
    assert "was already acknowledged at 08:02 on Monday 23 November" in text(browser)
    browser.close()
    browser.switch_to.window(first_tab)

    browser.get(url)  # the link opened once more: no button, the time it was acknowledged
    assert "Already acknowledged at 08:02 on Monday 23 November." in text(browser)
    assert browser.find_elements(By.ID, "acknowledge") == []
    screenshot(browser, "already")

    assert store.acknowledgements == [(BROWSER_REF, NOW)]
    assert [call for call in store.acknowledge_calls if call[0] == BROWSER_REF] == [(BROWSER_REF, NOW)]


def test_expired_link_page(browser, base_url, store, monkeypatch):
    browser.get(expired_link(base_url, BROWSER_REF, monkeypatch))
    assert browser.find_element(By.ID, "status").text == "This link has expired"
    page = text(browser)
    assert "contact your area's Operation Encompass coordinator" in page
    assert f"quote this referral:\n{BROWSER_REF}" in page
    assert page_width(browser) <= 390
    assert "Amelia" not in page and "Acknowledge" not in page.replace("Acknowledgement", "")
    screenshot(browser, "expired")


def test_invalid_link_page(browser, base_url):
    browser.get(f"{base_url}/acknowledge/not-a-real-token")
    assert browser.find_element(By.ID, "status").text == "This link is not recognised"
    assert "Amelia" not in text(browser)


def test_names_are_escaped(browser, base_url):
    browser.get(link(base_url, HOSTILE_REF))
    assert browser.find_element(By.TAG_NAME, "h1").text == "<script>alert(1)</script> O'Brien"


def test_status_codes_and_headers(base_url, store, monkeypatch):
    with httpx.Client(base_url=base_url, timeout=10, follow_redirects=False) as client:
        valid = link("", HTTP_REF)
        responses = {
            "page": client.get(valid),
            "expired": client.get(expired_link("", HTTP_REF, monkeypatch)),
            "invalid": client.get("/acknowledge/not-a-real-token"),
            "forged": client.get(valid.replace(HTTP_REF, RACE_REF)),  # another referral's id
            "unknown": client.get(link("", "ref-ffffffffffffffffffffffff")),
            "post_expired": client.post(expired_link("", HTTP_REF, monkeypatch)),
            "post_invalid": client.post("/acknowledge/not-a-real-token"),
            "confirmed": client.post(valid),
            "again": client.post(valid),
        }
    expected_status = {"page": 200, "expired": 410, "invalid": 404, "forged": 404, "unknown": 404,
                       "post_expired": 410, "post_invalid": 404, "confirmed": 200, "again": 200}
    assert {name: r.status_code for name, r in responses.items()} == expected_status
    for name, response in responses.items():
        assert response.headers["cache-control"] == "no-store", name
        assert response.headers["referrer-policy"] == "no-referrer", name
        assert response.headers["content-type"].startswith("text/html"), name
        assert "script-src" not in response.headers["content-security-policy"], name
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text
        assert "<script" not in response.text, name
    page = responses["page"].text
    assert '<form method="post" action="' in page and ">Acknowledge</button>" in page
    assert "Acknowledged. Thank you." in responses["confirmed"].text
    assert "Already acknowledged" in responses["again"].text
    assert store.acknowledgements.count((HTTP_REF, NOW)) == 1
    # No personal data where it does not belong: not in the expired or invalid pages.
    for name in ("expired", "invalid", "forged", "unknown", "post_expired", "post_invalid"):
        assert "Amelia" not in responses[name].text and "Carter" not in responses[name].text


def test_already_acknowledged_elsewhere(base_url, store):
    with httpx.Client(base_url=base_url, timeout=10) as client:
        shown = client.get(link("", DONE_REF))
        pressed = client.post(link("", DONE_REF))
    assert "Already acknowledged</strong> at 07:45 on Monday 23 November" in shown.text
    assert ">Acknowledge</button>" not in shown.text
    assert "already acknowledged at 07:45 on Monday 23 November" in pressed.text
    assert not [call for call in store.acknowledge_calls if call[0] == DONE_REF]


def test_presses_at_the_same_moment_record_one_acknowledgement(base_url, store):
    import asyncio

    async def press_many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            url = link("", RACE_REF)
            return await asyncio.gather(*(client.post(url) for _ in range(8)))

    responses = asyncio.run(press_many())
    assert all(r.status_code == 200 for r in responses)
    assert sum("Acknowledged. Thank you." in r.text for r in responses) == 1
    assert sum("Already acknowledged" in r.text for r in responses) == 7
    assert [a for a in store.acknowledgements if a[0] == RACE_REF] == [(RACE_REF, NOW)]
