"""The console in-process (httpx.ASGITransport): sign-in and out, roles, CSRF, every
page renders without personal fields, the JSON endpoints, termination with its audit entry."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select

from pars.audit import AuditLog, leaf_hash, log_size, verify_inclusion
from pars.console import audit_views
from pars.console.oversight_views import restyle
from pars.console.session import COOKIE, IDLE, TOUCH
from pars.gate import admin_event_recorder, revoke_token
from pars.store.schema.console import console_sessions
from pars.web.app import create_app
from tests.test_gate_fixtures import ICE_SEARCH, SSN, TestClient, World, world

__all__ = ["world"]

PAGES = [
    "/console/agreements",
    "/console/live",
    "/console/audit",
    "/console/oversight",
    "/console/transparency",
]
#: Personal values the fixtures' records hold; no console page may show one.
PERSONAL = [SSN, "Doe1", "Doe3", "1990-02-03", "12 N 5th St", "Aggravated assault"]


def sign_in(w: World, who: str) -> str:
    """Sign ``who`` in on the world's client; returns the session's CSRF token."""
    form = w.client.get("/console/signin")
    pre = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert pre is not None
    r = w.client.post("/console/signin", data={"pre": pre.group(1), "token": w.tokens[who]})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/agreements"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert w.tokens[who] not in cookie  # the cookie holds a session id, never the token
    page = w.client.get("/console/agreements")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return csrf.group(1)


def test_signed_out_pages_redirect_and_api_says_401(world: World) -> None:
    for path in PAGES:
        r = world.client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    r = world.client.get("/console/api/activity")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    signin = world.client.get("/console/signin")
    assert signin.status_code == 200
    assert '<html lang="en">' in signin.text and '<label for="token">' in signin.text
    assert "content-security-policy" in signin.headers


def test_partner_and_bad_tokens_cannot_sign_in(world: World) -> None:
    pre = re.search(r'name="pre" value="([^"]+)"', world.client.get("/console/signin").text)
    assert pre is not None
    r = world.client.post("/console/signin", data={"pre": pre.group(1), "token": world.tokens["ice"]})
    assert r.status_code == 403 and "partners use the API" in r.text
    assert "pars_console=" not in r.headers.get("set-cookie", "")
    pre = re.search(r'name="pre" value="([^"]+)"', world.client.get("/console/signin").text)
    assert pre is not None
    r = world.client.post("/console/signin", data={"pre": pre.group(1), "token": "pars_" + "x" * 43})
    assert r.status_code == 401
    # A sign-in form posted without the browser's own pre-session cookie value (login CSRF).
    r = world.client.post("/console/signin", data={"pre": "forged", "token": world.tokens["custodian"]})
    assert r.status_code == 403


@pytest.mark.parametrize("who", ["custodian", "oversight"])
def test_pages_render_without_personal_fields(world: World, who: str) -> None:
    world.search("ice", {**ICE_SEARCH, "filters": {"grade": ["F1", "F2"]}})
    world.search("ice", {**ICE_SEARCH, "filters": {"country_of_origin": "MX"}})
    world.search("ice", {**ICE_SEARCH, "filters": {"last_name": "Doe1"}})
    sign_in(world, who)
    for path in PAGES:
        r = world.client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "<title>" in r.text and 'class="skip"' in r.text
        assert "<script>" not in r.text and ' style="' not in r.text  # the CSP allows neither
        for value in PERSONAL:
            assert value not in r.text, (path, value)
    entry = world.client.get("/console/audit/entries/0")
    assert entry.status_code == 200 and 'id="verdict"' in entry.text


def test_sign_out_needs_csrf_and_ends_the_session(world: World) -> None:
    csrf = sign_in(world, "oversight")
    assert world.client.post("/console/signout", data={"csrf": "wrong"}).status_code == 403
    r = world.client.post("/console/signout", data={"csrf": csrf})
    assert r.status_code == 303
    assert world.client.get("/console/agreements").status_code == 303


def test_oversight_cannot_terminate_and_csrf_is_required(world: World) -> None:
    csrf = sign_in(world, "oversight")
    at = (world.clock.now() + timedelta(hours=1)).isoformat()
    form = {"csrf": csrf, "effective_at": at, "reason": "test"}
    page = world.client.get("/console/agreements")
    assert "Terminate ice-2017" not in page.text
    r = world.client.post("/console/agreements/ice-2017/terminate", data=form)
    assert r.status_code == 403
    world.client._client.cookies.clear()
    csrf = sign_in(world, "custodian")
    r = world.client.post("/console/agreements/ice-2017/terminate", data={**form, "csrf": "forged"})
    assert r.status_code == 403
    assert world.client.get("/console/agreements").text.count('data-status="terminated"') == 0


def test_custodian_terminates_and_the_change_is_logged(world: World) -> None:
    csrf = sign_in(world, "custodian")
    before = log_size_of(world)
    past = (world.clock.now() - timedelta(hours=1)).isoformat()
    r = world.client.post(
        "/console/agreements/ice-2017/terminate",
        data={"csrf": csrf, "effective_at": past, "reason": "council vote"},
    )
    assert r.status_code == 422 and "the Force box ticked" in r.text  # a past time needs the explicit box
    fbi = {"csrf": csrf, "effective_at": past, "reason": "audit finding", "force": "on"}
    r = world.client.post("/console/agreements/fbi-2017/terminate", data=fbi)
    assert r.status_code == 200 and "forced" in r.text
    assert world.search("fbi", {**ICE_SEARCH, "case_number": "FBI-1"}).status_code == 403
    at = (world.clock.now() + timedelta(seconds=30)).isoformat()
    r = world.client.post(
        "/console/agreements/ice-2017/terminate",
        data={"csrf": csrf, "effective_at": at, "reason": "council vote"},
    )
    assert r.status_code == 200 and 'id="result"' in r.text and "council vote" in r.text
    assert log_size_of(world) == before + 3  # two terminations and the denied FBI search
    live = world.client.get("/console/api/activity?agreement=ice-2017").json()["entries"]
    assert live[0]["action"] == "terminate" and live[0]["user"] == "records-clerk"
    world.clock.set(world.clock.now() + timedelta(seconds=31))
    denied = world.search("ice", ICE_SEARCH)
    assert denied.status_code == 403
    newest = world.client.get("/console/api/activity").json()["entries"][0]
    assert (newest["decision"], newest["rule"], newest["agency"]) == ("deny", "term.end", "ICE")
    assert "terminated" in world.client.get("/console/agreements").text


def log_size_of(w: World) -> int:
    with w.store.read() as conn:
        return log_size(conn)


def test_entry_api_gives_exact_bytes_and_a_proof_that_verifies(world: World) -> None:
    world.search("ice", ICE_SEARCH)
    sign_in(world, "oversight")
    d = world.client.get("/console/api/entries/1").json()
    raw = base64.b64decode(d["entry_b64"])
    assert leaf_hash(raw).hex() == d["leaf_hash_hex"] == hashlib.sha256(b"\0" + raw).hexdigest()
    proof = [bytes.fromhex(h) for h in d["proof_hex"]]
    assert verify_inclusion(leaf_hash(raw), 1, d["size"], proof, bytes.fromhex(d["root_hex"]))
    root_line = d["checkpoint"].split("\n")[2]
    assert base64.b64decode(root_line).hex() == d["root_hex"]
    assert world.client.get("/console/api/entries/999999").status_code == 404
    filtered = world.client.get("/console/audit?agreement=ice-2017&user=agent7&from=2018-06-01T00:00&to=")
    assert filtered.status_code == 200 and "agent7" in filtered.text
    bad = world.client.get("/console/audit?from=yesterday")
    assert bad.status_code == 422


def test_restyle_moves_inline_styles_into_svg_attributes() -> None:
    html = (
        '<html><head><style>p{}</style></head><body><main><svg><path style="fill: #fff; stroke-width: 0.8"/>'
        "<text style=\"font: 9px 'DejaVu Sans'; text-anchor: middle\">x</text></svg></main></body></html>"
    )
    out = restyle(html)
    assert "style" not in out and "<main" not in out
    assert 'fill="#fff"' in out and 'stroke-width="0.8"' in out
    assert 'font-size="9px" font-family="\'DejaVu Sans\'"' in out and 'text-anchor="middle"' in out
    # Nothing else changes: the landmark becomes a div and the SVG keeps its shape.
    assert out == (
        '<div><svg><path fill="#fff" stroke-width="0.8"/>'
        '<text font-size="9px" font-family="\'DejaVu Sans\'" text-anchor="middle">x</text></svg></div>'
    )


def test_oversight_report_is_kept_until_asked_to_rebuild(world: World) -> None:
    sign_in(world, "oversight")
    first = world.client.get("/console/oversight")
    size = log_size_of(world)
    assert f"covers the first {size} entries" in first.text and "Rebuild" not in first.text
    world.search("ice", ICE_SEARCH)  # the log grows; the report shown stays the one built
    again = world.client.get("/console/oversight")
    assert f"covers the first {size} entries" in again.text and "refresh=1" in again.text
    rebuilt = world.client.get("/console/oversight?refresh=1")
    assert f"covers the first {size + 1} entries" in rebuilt.text and "Rebuild" not in rebuilt.text
    assert world.client.get("/console/oversight/findings/999").status_code == 404


def test_audit_explorer_pages_both_ways(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_views, "PAGE_ROWS", 3)
    for _ in range(4):
        world.search("ice", ICE_SEARCH)
    sign_in(world, "custodian")
    size = log_size_of(world)

    def indices(html: str) -> list[int]:
        return [int(i) for i in re.findall(r'<td><a href="/console/audit/entries/(\d+)">', html)]

    newest = world.client.get("/console/audit?agreement=ice-2017")
    assert indices(newest.text) == [size - 1, size - 2, size - 3]
    link = re.search(r'href="(\?[^"]+)" rel="next"', newest.text)
    assert link is not None
    after = world.client.get("/console/audit" + link.group(1).replace("&amp;", "&"))
    assert indices(after.text)[0] == size - 4  # the next page starts where the first stopped
    oldest = world.client.get("/console/audit?order=oldest")
    assert indices(oldest.text) == [0, 1, 2] and 'rel="next"' in oldest.text
    assert world.client.get("/console/audit?order=sideways").status_code == 422


class _Form(HTMLParser):
    """Controls, labels, headings and landmarks of a page, for the accessibility checks."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.h1 = self.main = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        elif tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        self.h1 += tag == "h1"
        self.main += tag == "main"


@pytest.mark.parametrize("who", ["custodian", "oversight"])
def test_every_control_is_labelled_and_each_page_has_one_h1_and_one_main(world: World, who: str) -> None:
    world.search("ice", ICE_SEARCH)
    sign_in(world, who)
    for path in [*PAGES, "/console/audit/entries/0", "/console/signin"]:
        parsed = _Form()
        parsed.feed(world.client.get(path).text)
        unlabelled = [c for c in parsed.controls if c.get("id") not in parsed.labels]
        assert unlabelled == [], (path, unlabelled)
        assert (parsed.h1, parsed.main) == (1, 1), path


def test_a_revoked_token_ends_its_console_session(world: World) -> None:
    sign_in(world, "custodian")
    assert world.client.get("/console/api/activity").status_code == 200
    revoke_token(
        world.store,
        world.clock,
        world.tokens["custodian"],
        record_admin_event=admin_event_recorder(world.log),
    )
    assert world.client.get("/console/api/activity").status_code == 401
    r = world.client.get("/console/agreements")
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"


def test_the_session_cookie_is_secure_over_https(world: World) -> None:
    world.client._client.base_url = "https://pars.test"
    form = world.client.get("/console/signin")
    assert "; secure" in form.headers["set-cookie"].lower()
    pre = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert pre is not None
    r = world.client.post("/console/signin", data={"pre": pre.group(1), "token": world.tokens["oversight"]})
    assert r.status_code == 303
    cookie = r.headers.get_list("set-cookie")[0].lower()
    assert cookie.startswith("pars_console=") and "; secure" in cookie and "httponly" in cookie


# --- sessions in the store ------------------------------------------------------


def another_process(w: World) -> TestClient:
    """A second app on the world's store: what another ``pars serve`` worker, or a restart, sees."""
    return TestClient(
        create_app(w.store, w.clock, audit_log=AuditLog(w.log.keys, w.clock, checkpoint_interval=0))
    )


def session_id(w: World) -> str:
    sid = w.client._client.cookies.get(COOKIE)
    assert sid
    return sid


def stored_sessions(w: World) -> list[dict[str, Any]]:
    with w.store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(console_sessions))]


def test_a_session_opened_by_one_process_is_accepted_by_another(world: World) -> None:
    csrf = sign_in(world, "custodian")
    cookie = {"Cookie": f"{COOKIE}={session_id(world)}"}
    other = another_process(world)
    try:
        page = other.get("/console/agreements", headers=cookie)
        assert page.status_code == 200 and f'name="csrf" value="{csrf}"' in page.text
        assert other.get("/console/api/activity", headers=cookie).status_code == 200
        at = (world.clock.now() + timedelta(hours=1)).isoformat()
        form = {"csrf": csrf, "effective_at": at, "reason": "council vote"}
        r = other.post("/console/agreements/ice-2017/terminate", data=form, headers=cookie)
        assert r.status_code == 200 and "council vote" in r.text  # the CSRF token holds there too
        assert other.post("/console/signout", data={"csrf": csrf}, headers=cookie).status_code == 303
    finally:
        other.close()
    r = world.client.get("/console/agreements")  # signed out in one process is signed out in all
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    assert stored_sessions(world) == []


def test_the_stored_session_holds_neither_the_session_id_nor_the_token(world: World) -> None:
    csrf = sign_in(world, "custodian")
    sid, token = session_id(world), world.tokens["custodian"]
    [row] = stored_sessions(world)
    assert row["session_sha256"] == hashlib.sha256(sid.encode()).hexdigest()
    assert row["token_id"] == world.gate.authenticate(token).token_id
    for value in row.values():
        assert sid not in str(value) and token not in str(value) and csrf not in str(value)


def test_a_revoked_token_ends_its_session_in_every_process(world: World) -> None:
    sign_in(world, "custodian")
    cookie = {"Cookie": f"{COOKIE}={session_id(world)}"}
    other = another_process(world)
    try:
        assert other.get("/console/api/activity", headers=cookie).status_code == 200
        revoke_token(
            world.store,
            world.clock,
            world.tokens["custodian"],
            record_admin_event=admin_event_recorder(world.log),
        )
        r = other.get("/console/api/activity", headers=cookie)
        assert r.status_code == 401 and "no longer valid" in r.json()["error"]["message"]
    finally:
        other.close()
    assert stored_sessions(world) == []  # the lookup that found the token revoked deleted the row
    assert world.client.get("/console/agreements").status_code == 303


def test_a_session_ends_after_idle_seconds_without_use(world: World) -> None:
    sign_in(world, "oversight")
    opened = stored_sessions(world)[0]["seen_utc"]
    world.clock.advance(timedelta(seconds=TOUCH - 1))
    assert world.client.get("/console/api/activity").status_code == 200
    assert stored_sessions(world)[0]["seen_utc"] == opened  # used, but not yet worth a write
    for _ in range(3):  # each use keeps it alive for another IDLE seconds
        world.clock.advance(timedelta(seconds=IDLE - TOUCH))
        assert world.client.get("/console/api/activity").status_code == 200
    assert stored_sessions(world)[0]["seen_utc"] > opened
    world.clock.advance(timedelta(seconds=IDLE + 1))
    assert world.client.get("/console/api/activity").status_code == 401
    assert world.client.get("/console/live").headers["location"] == "/console/signin"
    world.client._client.cookies.clear()
    sign_in(world, "custodian")  # opening a session deletes the ones idle too long
    [row] = stored_sessions(world)
    assert row["session_sha256"] == hashlib.sha256(session_id(world).encode()).hexdigest()
