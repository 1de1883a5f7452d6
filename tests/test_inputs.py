"""Issue 13, items 1-3 and the partner's own entries: every "Why" input that got a 500,
free text as commitments (erasable), entries of at most 65,535 bytes. On SQLite and
PostgreSQL (the ``world`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import delete, select, update

from pars.agreements.document import parse_document
from pars.audit import get_entry, leaf_hash, log_size, verify_log
from pars.audit.entry import MAX_ENTRY_BYTES
from pars.audit.text_store import apply_retention, erase_entry
from pars.audit.texts import opened, opens, with_texts
from pars.errors import ConfigError, InvalidInput
from pars.oversight import OversightConfig, build_report
from pars.oversight.html import render_html
from pars.store.ingest import ingest_lines
from pars.store.schema.audit import audit_texts
from tests.test_gate_fixtures import ICE_READ, ICE_SEARCH, World, agreement, world
from tests.test_web import assert_error

__all__ = ["world"]

BAD_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
PERSONAL = "Subject Charles Garcia, DOB 1993-09-27, SSN 900-41-9828"


def size(w: World) -> int:
    with w.store.read() as conn:
        return log_size(conn)


def leaf(w: World, index: int) -> bytes:
    with w.store.read() as conn:
        return get_entry(conn, index).entry


def raw_search(w: World, content: bytes, who: str = "ice") -> Any:
    headers = {**w.auth(who), "content-type": "application/json"}
    return w.client.post("/v1/search", content=content, headers=headers)


def one_logged_422(w: World, send: Any) -> dict[str, Any]:
    """``send()`` answers 422 with its receipt, and the log grew by exactly that entry."""
    before = size(w)
    body = assert_error(send(), 422, logged=True)
    assert size(w) == before + 1 == body["receipt"]["leaf_index"] + 1
    assert leaf_hash(leaf(w, before)).hex() == body["receipt"]["leaf_hash_hex"]
    return body


# --- item 1: the inputs that got a 500 ---------------------------------------------


@pytest.mark.parametrize("when", BAD_TIMES)
@pytest.mark.parametrize("name", ["arrested_from", "arrested_to"])
def test_dates_outside_the_window_are_a_logged_422(world: World, name: str, when: str) -> None:
    body = one_logged_422(world, lambda: world.search("ice", {**ICE_SEARCH, "filters": {name: when}}))
    assert body["error"]["message"].startswith(f"filters.{name}:")
    assert "1900" in body["error"]["message"]


@pytest.mark.parametrize("when", BAD_TIMES)
def test_report_and_console_filter_take_the_same_window(world: World, when: str) -> None:
    r = world.client.get("/v1/oversight/report", params={"from": when}, headers=world.auth("oversight"))
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("from:")
    r = world.client.get("/v1/oversight/report", params={"to": when}, headers=world.auth("oversight"))
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("to:")
    from tests.test_console import sign_in

    sign_in(world, "oversight")
    page = world.client.get("/console/audit", params={"from": when})
    assert page.status_code < 500 and "1900" in page.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"purpose":"C","filters":{"\\ud800":"x"}}',
        b'{"purpose":"C","filters":{"last_name":"\\udfff"}}',
        b'{"purpose":"C","justification":"\\ud800 x"}',
        b'{"purpose":"C","filters":' + b"[" * 1000 + b"]" * 1000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["surrogate-name", "surrogate-value", "surrogate-text", "deep-1000", "deep-100000"],
)
def test_surrogates_and_deep_json_are_a_logged_422(world: World, content: bytes) -> None:
    body = one_logged_422(world, lambda: raw_search(world, content))
    assert body["error"]["message"].startswith("body:")


def test_read_and_feed_with_bad_inputs_are_logged_422s(world: World) -> None:
    one_logged_422(world, lambda: world.read("ice", "A-1", purpose="C", limit="5"))
    one_logged_422(world, lambda: world.read("ice", "A-1", purpose="C", justification="x" * 2001))
    feed = {"purpose": "C", "case_number": "y" * 5000}
    one_logged_422(world, lambda: world.client.get("/v1/feed", params=feed, headers=world.auth("fbi")))


def test_an_agreement_ending_in_9999_is_refused_at_apply(world: World) -> None:
    raw = agreement("ice-2017")
    raw["id"] = "forever"
    raw["term"] = {"start": "2017-09-01T00:00:00-04:00", "end": "9999-12-31T23:59:59-14:00"}
    with pytest.raises(InvalidInput, match=r"term\.end"):
        parse_document(raw)
    r = world.client.put(
        "/v1/agreements/forever", content=json.dumps(raw, default=str), headers=world.auth("custodian")
    )
    assert r.status_code == 422 and "term.end" in r.json()["error"]["message"]
    raw["term"]["end"] = "2018-08-31T23:59:59-04:00"
    raw["scope"] = {"since": "0001-01-01"}
    with pytest.raises(InvalidInput, match=r"scope\.since"):
        parse_document(raw)


def _event(n: int, at: str) -> dict[str, Any]:
    from tests.factories import arrest

    ev = arrest(900 + n)
    ev["arrest"]["arrested_at"] = at
    return ev


@pytest.mark.parametrize("when", BAD_TIMES)
def test_a_bad_date_in_a_booking_file_is_one_rejection_naming_the_field(world: World, when: str) -> None:
    good, bad = _event(1, "2018-06-01T13:10:00-04:00"), _event(2, when)
    lines = [(1, json.dumps(good)), (2, json.dumps(bad)), (3, json.dumps({**bad, "at": when}))]
    results: list[Any] = []
    totals = ingest_lines(world.store, lines, on_batch=results.extend, clock=world.clock)
    assert (totals.accepted, totals.rejected) == (1, 2)
    reasons = [r.reason for r in results if r.status == "rejected"]
    assert reasons[0].startswith("arrest.arrested_at:") and "1900" in reasons[0]
    assert reasons[1].startswith("at:") or "at:" in reasons[1]
    r = world.client.post("/v1/bookings", json=[_event(3, when), _event(4, "2018-06-02T13:10:00-04:00")],
                          headers=world.auth("custodian"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected"]) == (1, 1)
    assert r.json()["results"][0]["reason"].startswith("arrest.arrested_at:")


def test_bookings_that_are_deep_or_not_unicode_never_get_a_500(world: World) -> None:
    h = {**world.auth("custodian"), "content-type": "application/json"}
    r = world.client.post("/v1/bookings", content=b"[" * 50_000 + b"]" * 50_000, headers=h)
    assert r.status_code == 422
    r = world.client.post("/v1/bookings", content=b'[{"type":"arrest","event_id":"\\ud800"}]', headers=h)
    assert r.status_code == 200 and r.json()["rejected"] == 1
    lines = [(1, '{"type": "arrest", "event_id": "\ud800"}'), (2, "[" * 10_000)]
    totals = ingest_lines(world.store, lines, clock=world.clock)
    assert totals.rejected == 2


# --- item 2: free text becomes commitments --------------------------------------------


def test_free_text_is_committed_and_opened_beside_the_entry(world: World) -> None:
    body = {
        **ICE_SEARCH,
        "justification": PERSONAL,
        "case_number": "HSI-2018-0042",
        "filters": {"grade": "F1", "citizenship": "MX", "statute": "s" * 65},
        "sort": ["-arrested_at", "ssn_of_subject"],
    }
    r = world.search("ice", body)
    receipt = r.json()["receipt"]
    entry, texts = receipt["entry"], opened(receipt)
    stored = leaf(world, receipt["leaf_index"])
    for typed in (b"Charles", b"Garcia", b"900-41-9828", b"1993-09-27", b"HSI-2018-0042", b"citizenship",
                  b"ssn_of_subject", b"s" * 65):  # fmt: skip
        assert typed not in stored
    assert entry["v"] == 2 and entry["justification"].startswith("sha256:")
    assert set(texts) == {"justification", "case_number", "filters.statute", "sort.1", "rule"} | {
        f"filters.{k}" for k in entry["filters"] if k.startswith("sha256:")
    }
    assert all(opens(_at(entry, k), t) for k, t in texts.items())
    seen = with_texts(entry, texts)
    assert seen["justification"] == PERSONAL and seen["sort"] == ["-arrested_at", "ssn_of_subject"]
    assert "citizenship" in seen["filters"] and seen["filters"]["statute"] == "s" * 65
    # The entries route gives the same texts, to the partner user who asked.
    got = world.client.get(f"/v1/audit/entries/{receipt['leaf_index']}", headers=world.auth("ice")).json()
    assert got["entry"] == entry and got["texts"] == receipt["texts"]


def test_a_page_of_entries_opens_its_texts_as_with_texts_does(world: World) -> None:
    """The report opens a page's texts in place (``open_page_texts``): the same values as
    ``with_texts`` on every kind of key, a text edited in storage opens nothing, an erased
    one leaves its commitment (both databases)."""
    from pars.audit.reader import open_log
    from pars.audit.text_store import load_texts, open_page_texts

    kinds = {**ICE_SEARCH, "filters": {"grade": "F1", "citizenship": "MX", "statute": "s" * 65},
             "sort": ["-arrested_at", "ssn_of_subject"], "justification": PERSONAL}  # fmt: skip
    idx = [world.search("ice", kinds).json()["receipt"]["leaf_index"]]
    idx.append(world.read("ice", "Charles Garcia 1993", **ICE_READ).json()["receipt"]["leaf_index"])
    idx += [world.search("ice", {**ICE_SEARCH, "justification": f"case {n}"}).json()["receipt"]["leaf_index"]
            for n in range(3)]  # fmt: skip
    with world.store.write() as conn:  # a text edited in storage: it no longer opens its commitment
        edited = (audit_texts.c.idx == idx[2]) & (audit_texts.c.key == "justification")
        conn.execute(update(audit_texts).where(edited).values(text="case 99"))
    erase_entry(world.store, world.log, idx[3], "court order", by="records-clerk")
    with open_log(world.store, world.log.verifier_key) as view:
        page = [(i, doc) for i, doc in view.entries() if i in idx or i == idx[-1] + 1]
        texts = load_texts(view.conn, [i for i, _ in page])
        expected = [(i, with_texts(dict(doc), texts.get(i, {}))) for i, doc in page]
        open_page_texts(view.conn, page)
    assert page == expected
    by = dict(page)
    assert by[idx[0]]["justification"] == PERSONAL and by[idx[0]]["sort"] == [
        "-arrested_at",
        "ssn_of_subject",
    ]
    assert by[idx[0]]["filters"]["statute"] == "s" * 65 and "citizenship" in by[idx[0]]["filters"]
    assert by[idx[1]]["filters"]["arrest_id"] == "Charles Garcia 1993"
    assert by[idx[2]]["justification"].startswith("sha256:")  # edited: opens nothing
    assert by[idx[3]]["justification"].startswith("sha256:")  # erased
    assert by[idx[4]]["justification"] == "case 2"


def _at(entry: dict[str, Any], key: str) -> Any:
    from pars.audit.texts import committed_at

    return committed_at(entry, key)


def test_a_mistyped_arrest_id_is_committed(world: World) -> None:
    r = world.read("ice", "Charles Garcia 1993", **ICE_READ)
    receipt = assert_error(r, 404, logged=True)["receipt"]
    assert receipt["entry"]["filters"]["arrest_id"].startswith("sha256:")
    assert b"Garcia" not in leaf(world, receipt["leaf_index"])
    assert opened(receipt)["filters.arrest_id"].text == "Charles Garcia 1993"


def test_expunging_an_arrest_erases_the_texts_of_every_entry_naming_it(world: World) -> None:
    read = world.read("ice", "A-2018-000001", **{**ICE_READ, "justification": PERSONAL}).json()
    other = world.read("ice", "A-2018-000003", **{**ICE_READ, "justification": PERSONAL}).json()
    i, j = read["receipt"]["leaf_index"], other["receipt"]["leaf_index"]
    world.ingest({"type": "expungement", "event_id": "x-1", "at": "2018-06-15T12:00:00-04:00",
                  "arrest_id": "A-2018-000001", "order": "CP-51-MD-1-2018"})  # fmt: skip
    oversight = world.auth("oversight")
    assert world.client.get(f"/v1/audit/entries/{i}", headers=oversight).json()["texts"] == {}
    assert set(world.client.get(f"/v1/audit/entries/{j}", headers=oversight).json()["texts"]) == {
        "justification",
        "case_number",
    }
    assert verify_log(world.store, world.log.verifier_key).ok


def test_erase_is_logged_and_the_log_still_verifies(world: World) -> None:
    i = world.search("ice", {**ICE_SEARCH, "justification": PERSONAL}).json()["receipt"]["leaf_index"]
    done = erase_entry(world.store, world.log, i, "request of the data subject", by="records-clerk")
    assert done["erased"] == 2 and done["logged_at"] == i + 1
    got = world.client.get(f"/v1/audit/entries/{i}", headers=world.auth("oversight")).json()
    assert got["texts"] == {}
    admin = world.client.get(f"/v1/audit/entries/{i + 1}", headers=world.auth("oversight")).json()
    assert admin["entry"]["action"] == "erase_texts" and admin["entry"]["detail"] == {"index": i, "texts": 2}
    assert admin["texts"]["justification"]["text"] == "request of the data subject"
    assert verify_log(world.store, world.log.verifier_key).ok
    with pytest.raises(InvalidInput, match="--reason"):
        erase_entry(world.store, world.log, i, "  ", by="x")


def test_retention_keeps_a_year_at_least_and_erases_older_texts(world: World) -> None:
    from datetime import timedelta

    from pars.audit.texts import retention_days

    assert retention_days({}) == 365
    with pytest.raises(ConfigError, match="PARS_TEXT_RETENTION_DAYS"):
        retention_days({"PARS_TEXT_RETENTION_DAYS": "364"})
    with pytest.raises(ValueError):
        apply_retention(world.store, world.log, 30, by="x")
    old = world.search("ice", ICE_SEARCH).json()["receipt"]["leaf_index"]
    world.clock.advance(timedelta(days=200))
    new = world.search("ice", ICE_SEARCH).json()["receipt"]["leaf_index"]
    world.clock.advance(timedelta(days=170))  # the first is 370 days old, the second 170
    done = apply_retention(world.store, world.log, 365, by="records-clerk")
    assert done["erased"] >= 2
    with world.store.read() as conn:
        kept = set(conn.scalars(select(audit_texts.c.idx)))
    assert old not in kept and new in kept
    assert verify_log(world.store, world.log.verifier_key).ok


def test_texts_gone_without_a_logged_erasure_are_named_in_the_report(world: World) -> None:
    """The custodian deletes one reason and edits another in storage (the log still verifies):
    the report names both entries; texts erased by ``pars audit erase``, by retention and by an
    expungement are explained and not named (both databases, one process and two)."""
    from datetime import timedelta

    nobody = {**ICE_SEARCH, "filters": {"last_name": "Nobody"}}  # names no arrest: no expungement explains it
    old = world.search("ice", nobody).json()["receipt"]["leaf_index"]
    world.clock.advance(timedelta(days=370))  # past the term: the searches are refused, and logged
    erased, deleted, edited, kept = (
        world.search("ice", {**ICE_SEARCH, "justification": f"lead {n}"}).json()["receipt"]["leaf_index"]
        for n in range(4)
    )
    named = world.read("ice", "A-2018-000001", **ICE_READ).json()["receipt"]["leaf_index"]
    erase_entry(world.store, world.log, erased, "request of the data subject", by="records-clerk")
    assert apply_retention(world.store, world.log, 365, by="records-clerk")["erased"] == 2  # ``old``'s two
    world.ingest({"type": "expungement", "event_id": "x-1", "at": "2018-06-15T12:00:00-04:00",
                  "arrest_id": "A-2018-000001", "order": "CP-51-MD-1-2018"})  # fmt: skip
    with world.store.write() as conn:  # the custodian, by SQL: one reason deleted, one rewritten
        conn.execute(delete(audit_texts).where(audit_texts.c.idx == deleted))
        rewritten = (audit_texts.c.idx == edited) & (audit_texts.c.key == "justification")
        conn.execute(update(audit_texts).where(rewritten).values(text="lead 99"))
    assert verify_log(world.store, world.log.verifier_key).ok  # the leaves are untouched
    for processes in (1, 2):
        report = build_report(world.store, hmac_key=world.log.keys.hmac_key, now=world.clock.now(),
                              verifier_key=world.log.verifier_key, processes=processes)  # fmt: skip
        assert report["log"]["texts"] == {
            "checked": 6,
            "gone": 5,  # old (retention), erased (erase), deleted, edited, named (expunged)
            "explained": 3,
            "unexplained": 2,
            "unexplained_indices": [deleted, edited],
        }, report["log"]["texts"]
        assert f"(entries {deleted}, {edited})" in report["summary"]
        assert kept not in report["log"]["texts"]["unexplained_indices"] and old < named
    page = render_html(world.store, report)
    assert 'id="texts-gone"' in page and f"{deleted}, {edited}" in page


#: Thresholds low enough for three arrests: a reason or case number reused for two people
#: is a finding whose summary quotes it (as it would for thirty in a city).
SMALL = OversightConfig(reuse_people=2, reuse_share=0.0, case_reuse_people=2, vague_min=5)


def _report(w: World) -> dict[str, Any]:
    return build_report(
        w.store,
        hmac_key=w.log.keys.hmac_key,
        now=w.clock.now(),
        verifier_key=w.log.verifier_key,
        config=SMALL,
    )


def _findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list(report["findings"])


def _set_texts(w: World, text: str | None) -> None:
    """Rewrite (or, with None, delete) every stored justification text."""
    reasons = audit_texts.c.key == "justification"
    with w.store.write() as conn:
        if text is None:
            conn.execute(audit_texts.delete().where(reasons))
        else:
            conn.execute(update(audit_texts).where(reasons).values(text=text))


def _felons(w: World, count: int) -> list[str]:
    """``count`` more felony arrests in ICE's scope, each of a different person."""
    from tests.factories import arrest, person

    events = []
    for n in range(700, 700 + count):
        ev = arrest(n, person=person(f"Felon{n}", "Pat", dob="1980-01-01", ssn=f"901-23-{n:04d}"))
        ev["charges"] = [{"seq": 1, "statute": "18 § 3701", "description": "Robbery", "grade": "F1"}]
        events.append(ev)
    w.ingest(*events)
    return [e["arrest"]["arrest_id"] for e in events]


def test_oversight_quotes_reasons_through_their_commitments_and_erased_ones_nowhere(world: World) -> None:
    for aid in _felons(world, 4):
        world.search("ice", {**ICE_SEARCH, "justification": PERSONAL, "filters": {"arrest_id": aid}})
    before = _report(world)
    assert "charles garcia" in json.dumps(before["findings"]).lower()  # the reused reason, quoted
    # The custodian rewrites every stored reason: the report does not say what it wrote.
    _set_texts(world, "routine records check for an ongoing felony investigation")
    edited = _report(world)
    assert "routine records check" not in json.dumps(edited)
    _set_texts(world, None)
    assert _findings(edited) == _findings(_report(world))  # an edited text is as good as none
    with world.store.write() as conn:
        conn.execute(audit_texts.delete())  # erasure of every text
    erased = _report(world)
    html = render_html(world.store, erased, config=SMALL)
    for personal in ("garcia", "900-41-9828", "1993-09-27"):
        assert personal not in json.dumps(erased).lower() and personal not in html.lower()
    # The same log; the texts deleted by SQL, with no erasure on the record, are named.
    assert {**before["log"], "texts": None} == {**erased["log"], "texts": None}
    assert (before["log"]["texts"]["unexplained"], erased["log"]["texts"]["unexplained"]) == (0, 4)
    assert edited["log"]["texts"]["unexplained"] == 4  # rewritten: no longer opening their commitments


def test_a_custodian_editing_texts_changes_no_finding(world: World) -> None:
    """Good reasons rewritten as boilerplate would frame the user as vague: they are not used."""
    for n in range(8):
        reason = f"robbery investigation {n}: suspect matches the booking photo and the charges"
        world.search("ice", {**ICE_SEARCH, "justification": reason, "case_number": f"HSI-{n}"})
    before = _findings(_report(world))
    assert not [f for f in before if f["kind"] == "vague_justification"]
    _set_texts(world, "n/a")
    assert _findings(_report(world)) == before
    _set_texts(world, None)  # erased reasons are unknown, not vague
    assert _findings(_report(world)) == before


# --- item 3: entries of at most 65,535 bytes ------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {**ICE_SEARCH, "filters": {"statute": "x" * 7_000_000}},
        {**ICE_SEARCH, "filters": {"grade": ["F1"] * 200_000}},
        {**ICE_SEARCH, "filters": {f"f{i}": "v" * 60 for i in range(50_000)}},
        {**ICE_SEARCH, "sort": ["x" * 60] * 50_000, "justification": "j" * 7_000_000},
        {**ICE_SEARCH, "filters": {"last_name": [["nested"] * 1000] * 100}},
    ],
    ids=["7MB-value", "huge-list", "many-names", "huge-sort-and-text", "nested-lists"],
)
def test_huge_requests_get_one_small_entry(world: World, body: dict[str, Any]) -> None:
    got = one_logged_422(world, lambda: world.search("ice", body))
    stored = leaf(world, got["receipt"]["leaf_index"])
    assert len(stored) <= 8_000  # far under MAX_ENTRY_BYTES: every value bounded or committed
    assert len(rfc8785.dumps(got["receipt"]["entry"])) == len(stored)
    assert sum(len(t["text"]) for t in got["receipt"]["texts"].values()) <= 40_000


def test_an_oversized_entry_is_refused_and_the_gate_answers_fewer_records(world: World) -> None:
    from datetime import UTC, datetime

    from pars.audit import build_entry
    from pars.audit.entry import EntryTooLarge

    with pytest.raises(EntryTooLarge):
        build_entry(hmac_key=b"k" * 32, time=datetime(2018, 1, 1, tzinfo=UTC), kind="access",
                    action="search", decision="allow", status=200,
                    arrest_ids=[f"A-{i:060d}" for i in range(2000)])  # fmt: skip
    assert MAX_ENTRY_BYTES == 65_535


def test_the_gate_answers_fewer_records_rather_than_write_an_oversized_entry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound scaled down to the fixtures' three arrests: an entry naming all three would
    pass it, so the gate answers with the first record(s) only, and names exactly those."""
    import pars.audit.entry

    ask = {"purpose": "C", "case_number": "F-1"}
    one = world.search("fbi", {**ask, "limit": 1}).json()["receipt"]["entry"]
    every = world.search("fbi", ask).json()
    assert every["count"] == 3
    monkeypatch.setattr(pars.audit.entry, "MAX_ENTRY_BYTES", len(rfc8785.dumps(one)) + 8)
    r = world.search("fbi", ask)
    body = r.json()
    assert r.status_code == 200 and 1 <= body["count"] < 3
    assert body["receipt"]["entry"]["arrest_ids"] == [x["arrest_id"] for x in body["results"]]
    assert [x["arrest_id"] for x in body["results"]] == [x["arrest_id"] for x in every["results"]][
        : body["count"]
    ]
    assert len(leaf(world, body["receipt"]["leaf_index"])) <= len(rfc8785.dumps(one)) + 8


# --- item 5 (part): a partner reads only its own user's entries -----------------------


def test_a_partner_user_reads_only_its_own_entries(world: World) -> None:
    mine = world.search("ice", ICE_SEARCH).json()["receipt"]["leaf_index"]
    theirs = world.search("ice2", ICE_SEARCH).json()["receipt"]["leaf_index"]
    assert world.client.get(f"/v1/audit/entries/{mine}", headers=world.auth("ice")).status_code == 200
    r = world.client.get(f"/v1/audit/entries/{theirs}", headers=world.auth("ice"))
    missing = world.client.get("/v1/audit/entries/999999", headers=world.auth("ice"))
    assert r.status_code == missing.status_code == 404
    assert r.json()["error"]["message"].replace(str(theirs), "N") == missing.json()["error"][
        "message"
    ].replace("999999", "N")
    assert world.client.get(f"/v1/audit/entries/{theirs}", headers=world.auth("ice2")).status_code == 200
    assert world.client.get(f"/v1/audit/entries/{theirs}", headers=world.auth("oversight")).status_code == 200


# --- the CLI: entry, erase, retention -------------------------------------------------


def test_cli_entry_erase_and_retention(store_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from typer.testing import CliRunner

    from pars.audit import AuditLog, build_entry
    from pars.cli import app
    from pars.store.db import Store

    runner = CliRunner()
    env = {"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "keys")}
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    store, log = Store(store_url), AuditLog.open(env["PARS_KEY_DIR"])
    try:
        old = datetime.now(UTC) - timedelta(days=400)
        with store.write() as conn:
            log.append(conn, [build_entry(hmac_key=log.keys.hmac_key, time=old + timedelta(minutes=i),
                                          kind="access", action="search", decision="deny", status=403,
                                          justification=f"{PERSONAL} #{i}") for i in range(3)])  # fmt: skip
        shown = runner.invoke(app, ["audit", "entry", "0"], env=env)
        assert (
            shown.exit_code == 0
            and json.loads(shown.stdout)["texts"]["justification"]["text"] == f"{PERSONAL} #0"
        )
        assert PERSONAL not in json.dumps(json.loads(shown.stdout)["entry"])
        done = runner.invoke(
            app, ["audit", "erase", "--index", "0", "--reason", "court order", "--json"], env=env
        )
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == {"index": 0, "erased": 1, "logged_at": 3}
        assert json.loads(runner.invoke(app, ["audit", "entry", "0"], env=env).stdout)["texts"] == {}
        bad = runner.invoke(app, ["audit", "erase", "--index", "-1", "--reason", "x"], env=env)
        assert bad.exit_code == 2
        refused = runner.invoke(app, ["audit", "retention"], env={**env, "PARS_TEXT_RETENTION_DAYS": "30"})
        assert refused.exit_code != 0 and "365" in str(refused.exception)  # ConfigError: the CLI says it
        assert runner.invoke(app, ["audit", "retention", "--days", "30"], env=env).exit_code == 2
        kept = runner.invoke(app, ["audit", "retention", "--json"], env=env)
        assert kept.exit_code == 0, kept.output
        assert json.loads(kept.stdout)["erased"] == 2  # entries 1 and 2; the admin entries are new
        assert runner.invoke(app, ["audit", "verify"], env=env).exit_code == 0
    finally:
        store.dispose()


def test_a_request_within_its_bounds_is_recorded_whole() -> None:
    """The request model and the entry builder keep the same numbers (else an allowed
    search could be logged cut short)."""
    import pars.agreements.request as request
    import pars.audit.entry as entry
    import pars.audit.texts as texts

    assert (request.MAX_FILTERS, request.MAX_LIST) == (entry.MAX_FILTERS, entry.MAX_LIST)
    assert request.MAX_TEXT_CHARS <= texts.MAX_TEXT


def test_pars_ingest_rejects_a_bad_date_and_keeps_the_batch(store_url: str, tmp_path: Path) -> None:
    from tests.test_ingest_cli import pars

    f = tmp_path / "bookings.jsonl"
    f.write_text(
        "\n".join(json.dumps(_event(n, at)) for n, at in enumerate(["2018-06-01T13:10:00-04:00", *BAD_TIMES]))
    )
    out = pars("ingest", "--json", str(f), url=store_url)
    assert "Traceback" not in out.stderr and out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert (report["accepted"], report["rejected"]) == (1, 2)
    assert all(
        r["reason"].startswith("arrest.arrested_at:") for r in report["results"] if r["status"] == "rejected"
    )
