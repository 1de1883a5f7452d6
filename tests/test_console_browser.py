"""The console in a real browser (Playwright on Debian's Chromium) against a real uvicorn:
a custodian terminates ICE and watches the next ICE request denied live; oversight
follows a finding's evidence to an entry whose inclusion proof the page checks itself.
Also ``pars demo --serve``'s printed tokens, on the same tiny story, without a browser.

Skips when /usr/bin/chromium or Playwright is missing, unless CI is set (then it fails).
Screenshots of every page land in the test's tmp_path.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pars.audit import AuditLog, init_log, sign_checkpoint, verifier_key
from pars.cli.demo import serve_demo
from pars.clock import FixedClock, parse_instant
from pars.demo import Demo, chapter_agreements, chapter_parties, chapter_records, personas
from pars.gate import Gate, admin_event_recorder, issue_token
from pars.simulate import load_world, simulate
from pars.store.db import Store
from pars.store.migrate import upgrade
from pars.web.app import create_app
from tests.test_gate_fixtures import TestClient

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The simulated partners work for three weeks; the server's clock then stands here.
START = parse_instant("2017-09-01T00:00:00-04:00")
END = parse_instant("2017-09-22T00:00:00-04:00")
NOW = parse_instant("2017-09-25T10:00:00-04:00")
SEARCH = {
    "purpose": "C",
    "case_number": "ICE-17-1",
    "justification": "Follow-up on a pending criminal case.",
    "filters": {"last_name": "Garcia"},
    "limit": 3,
}


def _browser_or_skip() -> Any:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "browser tests need Playwright for Python (pip install -e .[dev])"
        sync_playwright = None  # type: ignore[assignment]  # the reason below skips the test
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser tests must run: {reason}")
        pytest.skip(reason)
    return sync_playwright


@dataclass
class Site:
    store: Store
    clock: FixedClock
    base: str
    tokens: dict[str, str] = field(default_factory=dict)


def _build(folder: Path) -> tuple[Store, Demo, AuditLog, dict[str, str]]:
    """A tiny demo: a few hundred arrests, the demo's agreements, three weeks of partner work."""
    demo = Demo(folder, arrests=300, seed=7, say=lambda _: None)
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(demo.store_url)
    upgrade(store)
    init_log(store, demo.key_dir)
    log = AuditLog.open(demo.key_dir, clock=demo.clock)
    gate = Gate(store, log, demo.clock)
    chapter_records(demo, store)
    rec = admin_event_recorder(log)
    chapter_agreements(demo, store, log, chapter_parties(demo, store, log))
    team = personas()
    principals = {}
    for p in team:
        token, _ = issue_token(
            store,
            demo.clock,
            role="partner",
            user=p.user,
            agreement_id=p.agreement_id,
            record_admin_event=rec,
        )
        principals[p.user] = gate.authenticate(token)
    with store.read() as conn:
        world = load_world(conn)
    simulate(gate, principals, team, world, START, END, demo.clock, seed=7)
    demo.clock.set(NOW)
    tokens = {
        "custodian": issue_token(
            store, demo.clock, role="custodian", user="records.custodian", record_admin_event=rec
        )[0],
        "oversight": issue_token(
            store, demo.clock, role="oversight", user="inspector.general", record_admin_event=rec
        )[0],
        "ice": issue_token(
            store,
            demo.clock,
            role="partner",
            user="ice.late",
            agreement_id="ice-2017",
            record_admin_event=rec,
        )[0],
    }
    return store, demo, log, tokens


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store, demo, log, tokens = _build(tmp_path / "demo")
    clock = demo.clock
    app = create_app(store, clock, audit_log=log)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="none", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Site(store, clock, f"http://127.0.0.1:{port}", tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.dispose()


def _signed_notes() -> list[tuple[str, str, bool]]:
    """Checkpoints signed with keys whose verifier string holds "+" in its base64, and a wrong key."""
    out: list[tuple[str, str, bool]] = []
    keys = (Ed25519PrivateKey.generate() for _ in range(1000))
    plus = [k for k in keys if "+" in _key(k).partition("+")[2].partition("+")[2]][:3]
    for k in plus:
        note = sign_checkpoint("example.org/log", 7, bytes(range(32)), "example.org/log", k).note
        out.append((note, _key(k), True))
        out.append((note, _key(Ed25519PrivateKey.generate()), False))
    return out


def _key(k: Ed25519PrivateKey) -> str:
    raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return verifier_key("example.org/log", raw)


def _sign_in(page: Any, site: Site, who: str, shot: Path | None = None) -> None:
    page.goto(site.base + "/console/signin")
    if shot is not None:
        page.screenshot(path=str(shot))
    page.get_by_label("API token").fill(site.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/agreements")


@pytest.fixture
def browser_api() -> Any:
    """Playwright's sync API, or a skip (a failure under CI) before the store is built."""
    return _browser_or_skip()


@pytest.mark.slow
def test_terminate_watch_denial_and_verify_evidence(browser_api: Any, site: Site, tmp_path: Path) -> None:
    sync_playwright = browser_api
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            # The custodian sees the agreements and ends ICE's a minute from now.
            _sign_in(page, site, "custodian", shots / "signin.png")
            # Keyboard: the first Tab reaches the skip link, shown on screen with a visible outline.
            page.keyboard.press("Tab")
            skip = page.locator("a.skip")
            assert page.evaluate("document.activeElement.className") == "skip"
            box = skip.bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0
            assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "main"
            ice = page.locator("section", has=page.locator("h2#ag-ice-2017"))
            assert ice.locator("[data-status]").get_attribute("data-status") == "active"
            page.screenshot(path=str(shots / "agreements.png"), full_page=True)
            effective = (site.clock.now() + timedelta(seconds=60)).isoformat()
            ice.locator("summary", has_text="Terminate ice-2017").click()  # opens the <details>
            ice.get_by_label("Effective at").fill(effective)
            ice.get_by_label("Reason").fill("City ends ICE access (council vote)")
            ice.get_by_role("button", name="Terminate ice-2017").click()
            page.wait_for_selector("#result")
            assert "ice-2017 terminated effective" in page.locator("#result").inner_text()
            page.screenshot(path=str(shots / "terminated.png"), full_page=True)

            # A minute and a second later, ICE's next request is denied and shows up live.
            page.get_by_role("link", name="Live activity").click()
            page.wait_for_url("**/console/live")
            page.get_by_label("Agreement").select_option("ice-2017")
            site.clock.advance(timedelta(seconds=61))
            r = httpx.post(
                site.base + "/v1/search",
                json=SEARCH,
                timeout=10,
                headers={"Authorization": f"Bearer {site.tokens['ice']}"},
            )
            assert r.status_code == 403 and r.json()["error"]["rule"] == "term.end"
            index = r.json()["receipt"]["leaf_index"]
            first = page.locator("#live tbody tr").first
            first.locator("td", has_text="term.end").wait_for(timeout=10_000)
            assert first.locator("td").first.inner_text() == str(index)
            assert "ice.late" in first.inner_text() and "deny" in first.inner_text()
            page.screenshot(path=str(shots / "live.png"), full_page=True)
            page.get_by_role("link", name="Agreements", exact=True).click()
            status = page.locator("section", has=page.locator("h2#ag-ice-2017")).locator("[data-status]")
            assert status.get_attribute("data-status") == "terminated"

            page.get_by_role("link", name="Audit explorer").click()
            page.get_by_label("Agreement").select_option("ice-2017")
            page.get_by_role("button", name="Filter").click()
            page.wait_for_selector("#entries tbody tr")
            page.screenshot(path=str(shots / "audit.png"))
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/console/signin")

            # Oversight opens a finding and follows its evidence to a proof the page checks.
            _sign_in(page, site, "oversight")
            assert page.locator("form[id^=terminate-]").count() == 0
            page.get_by_role("link", name="Oversight", exact=True).click()
            page.wait_for_selector("#findings-h", timeout=60_000)
            page.screenshot(path=str(shots / "oversight.png"))
            # The report's own evidence tables link to the console's entry pages too.
            assert page.locator('.report a[href^="/console/audit/entries/"]').count() > 0
            page.locator("ol.findings a").first.click()
            page.wait_for_selector("#evidence tbody a")
            page.screenshot(path=str(shots / "finding.png"), full_page=True)
            page.locator("#evidence tbody a").first.click()
            verdict = page.locator("#verdict[data-result]")
            verdict.wait_for(timeout=10_000)
            assert verdict.get_attribute("data-result") == "verified", verdict.inner_text()
            assert page.locator("#leaf-computed").inner_text() == page.locator("#leaf-stored").inner_text()
            assert (
                page.locator("#root-computed").inner_text() == page.locator("#root-checkpoint").inner_text()
            )
            page.screenshot(path=str(shots / "entry.png"), full_page=True)

            # The page's signature check on notes signed here, with keys whose base64 holds a "+".
            for note, key, want in _signed_notes():
                got = page.evaluate("([n, k]) => window.parsConsole.checkSignature(n, k)", [note, key])
                assert got is want, (note, key)

            # The check is real: one changed byte of the entry, as served to the page, fails it.
            def tamper(route: Any) -> None:
                data = route.fetch().json()
                raw = bytearray(base64.b64decode(data["entry_b64"]))
                raw[-2] ^= 1
                route.fulfill(json={**data, "entry_b64": base64.b64encode(bytes(raw)).decode()})

            page.route("**/console/api/entries/*", tamper)
            page.reload()
            verdict.wait_for(timeout=10_000)
            assert verdict.get_attribute("data-result") == "failed"
            assert "FAILED" in verdict.inner_text()
            page.unroute("**/console/api/entries/*")

            page.get_by_role("link", name="Transparency", exact=True).click()
            page.wait_for_url("**/console/transparency")
            page.screenshot(path=str(shots / "transparency.png"))
            assert errors == [], errors
        finally:
            browser.close()
    assert len(list(shots.glob("*.png"))) == 9
    if os.environ.get("PARS_CONSOLE_SHOTS"):
        shutil.copytree(shots, os.environ["PARS_CONSOLE_SHOTS"], dirs_exist_ok=True)


@pytest.mark.slow
def test_approval_signatures_are_checked_in_the_browser(browser_api: Any, site: Site, tmp_path: Path) -> None:
    """Each version shows who signed (party, key id, note); the page verifies every note itself,
    and flags one whose signature was changed on its way to the browser."""
    sync_playwright = browser_api
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _sign_in(page, site, "oversight")
            approvals = page.locator("li.approval")
            assert approvals.count() == 6  # three agreements, two signatures each
            page.wait_for_function(
                "document.querySelectorAll('li.approval[data-result]').length === 6", timeout=10_000
            )
            results = approvals.evaluate_all("els => els.map(e => [e.dataset.party, e.dataset.result])")
            assert results == [
                [party, "valid"] for _ in range(3) for party in ("courts", "district_attorney")
            ]
            ice = page.locator("section", has=page.locator("h2#ag-ice-2017")).locator("li.approval").first
            assert re.fullmatch(r"[0-9a-f]{8}", ice.locator("code").first.inner_text())
            note = ice.locator("pre.approval-note").text_content() or ""
            assert note.startswith("pars-approval/v1\n") and "\n\n\u2014 courts " in note
            page.screenshot(path=str(tmp_path / "approvals.png"), full_page=True)

            # The same page with one character of the first ICE signature changed in transit.
            def tamper(route: Any) -> None:
                html = route.fetch().text()
                at = html.index("\u2014 courts ", html.index('id="ag-ice-2017"')) + len("\u2014 courts ") + 10
                flipped = "A" if html[at] != "A" else "B"
                route.fulfill(body=html[:at] + flipped + html[at + 1 :], content_type="text/html")

            page.route("**/console/agreements", tamper)
            page.reload()
            page.wait_for_function(
                "document.querySelectorAll('li.approval[data-result]').length === 6", timeout=10_000
            )
            results = approvals.evaluate_all("els => els.map(e => e.dataset.result)")
            assert results.count("invalid") == 1 and results.count("valid") == 5
            assert ice.get_attribute("data-result") == "invalid"
            assert "INVALID" in ice.locator(".sig-check").inner_text()
            page.unroute("**/console/agreements")
            assert errors == [], errors
        finally:
            browser.close()


def test_demo_serve_prints_tokens_that_open_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pars demo --serve`` after the story: the printed custodian token signs in (no browser needed)."""
    store, demo, _, _ = _build(tmp_path / "demo")
    store.dispose()
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    serve_demo(demo, host="127.0.0.1", port=8123)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/console" in out and served["port"] == 8123
    found = re.search(r"custodian token:\s+(pars_\S+)", out)
    assert found is not None
    client = TestClient(served["app"])
    try:
        pre = re.search(r'name="pre" value="([^"]+)"', client.get("/console/signin").text)
        assert pre is not None
        r = client.post("/console/signin", data={"pre": pre.group(1), "token": found.group(1)})
        assert r.status_code == 303
        page = client.get("/console/agreements")
        assert page.status_code == 200 and "records.custodian (custodian)" in page.text
        assert 'id="ag-ice-2017"' in page.text
    finally:
        client.close()
