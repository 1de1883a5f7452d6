"""The HTML oversight report: one standalone, well-formed, accessible page with proofs that verify.

The world is the story's (tests/test_oversight_story.py): partner requests through
the real gate, five analysts at work and, when misuse is on, agent7 singling out
people born abroad, filtering on country of origin and looking for a victim.
"""

from __future__ import annotations

import itertools
import random
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from pars.audit import AuditLog, get_entry, log_size, verify_inclusion
from pars.gate import Gate, admin_event_recorder, issue_token
from pars.oversight import ArrestFact, OversightConfig, RecordFacts, build_report
from pars.oversight.activity import Activity
from pars.oversight.html import number, render_html
from pars.store.db import Store
from tests.test_oversight_detectors import CRIMES, DETAILS, STREETS
from tests.test_oversight_story import city  # noqa: F401  (the fixture)

City = tuple[Store, Gate, AuditLog, dict[str, list[int]]]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def drive(world: City, *, misuse: bool) -> dict[str, Any]:
    """Requests through the gate, then the report (as in the story, a little shorter)."""
    store, gate, log, pools = world
    rng = random.Random(1)
    clock = log.clock
    people = {}
    for user in ["analyst0", "analyst1", "analyst2", "analyst3", "analyst4", "agent7"]:
        token, _ = issue_token(
            store, clock, role="partner", user=user, agreement_id="ice-2017",
            record_admin_event=admin_event_recorder(log),
        )  # fmt: skip
        people[user] = gate.authenticate(token)

    def search(user: str, n: int, why: str, case: str, **filters: Any) -> None:
        body = {"purpose": "C", "case_number": case, "justification": why,
                "filters": filters or {"last_name": f"Name{n}", "first_name": "Pat"}}  # fmt: skip
        gate.search(people[user], body)
        clock.set(clock.now() + timedelta(hours=3))  # type: ignore[attr-defined]

    for k in range(45):
        for u in range(5):
            case = f"18-{u}{k:03d}"
            why = f"{rng.choice(CRIMES)} investigation, case {case}: {rng.choice(DETAILS)}"
            why += f" near {rng.choice(STREETS)}"
            search(f"analyst{u}", rng.choice(pools["all"]), why, case)
        if misuse:
            why = "ICE detainer review for removal proceedings" if k % 3 == 0 else f"Narcotics tip {k}"
            search("agent7", rng.choice(pools["abroad"]), why, f"E-{k:03d}")
    if misuse:
        for _ in range(3):
            search("agent7", 0, "Narcotics tip", "E-999", country_of_origin="MX")
        for _ in range(2):
            search("agent7", 0, "Narcotics tip", "E-998", last_name="Roe", first_name="Ann")
    search("analyst0", 0, "Burglary investigation", "18-1", country_of_origin="US")  # one slip, denied
    return build_report(store, hmac_key=log.keys.hmac_key, now=clock.now(), verifier_key=log.verifier_key)


class Page(HTMLParser):
    """Checks well-formedness as it parses (every element closed, in order) and keeps what tests read."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.elements: list[tuple[str, dict[str, str], str | None]] = []  # tag, attributes, owner id
        self.text: dict[str, list[str]] = {}  # id of the innermost element with an id -> its text
        self._owners: list[str | None] = []
        self.doctype = ""
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed at end: {self.stack}")

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def _open(self, tag: str, attrs: list[tuple[str, str | None]]) -> dict[str, str]:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a, self._owners[-1] if self._owners else None))
        if "id" in a:
            self.ids.append(a["id"])
        return a

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = self._open(tag, attrs)
        if tag in VOID:
            return
        self.stack.append(tag)
        self._owners.append(a.get("id") or (self._owners[-1] if self._owners else None))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag for void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()
            self._owners.pop()

    def handle_data(self, data: str) -> None:
        owner = self._owners[-1] if self._owners else None
        if owner:
            self.text.setdefault(owner, []).append(data)

    def text_of(self, element_id: str) -> str:
        return " ".join("".join(self.text.get(element_id, [])).split())

    def having(self, tag: str, within: str | None = None, **attrs: str) -> list[dict[str, str]]:
        """Elements by tag and attributes; ``within``: only those whose nearest id-bearing ancestor is it."""
        return [
            a
            for t, a, owner in self.elements
            if t == tag and all(a.get(k) == v for k, v in attrs.items()) and within in (None, owner)
        ]


def check_page(html: str) -> Page:
    """The rules every report page keeps: well-formed HTML5, accessible, self-contained."""
    page = Page(html)
    assert page.errors == []
    assert page.doctype.lower() == "doctype html"
    assert page.having("html")[0].get("lang") == "en"
    assert len(page.having("meta", charset="utf-8")) == 1 and page.having("title")
    assert len(page.ids) == len(set(page.ids)), [i for i in page.ids if page.ids.count(i) > 1]
    assert not re.search(r"https?://", html), re.findall(r".{40}https?://.{40}", html)[:3]
    assert not page.having("script") and not page.having("link") and not page.having("img")
    headings = [int(t[1]) for t, _, _ in page.elements if re.fullmatch(r"h[1-6]", t)]
    assert headings[0] == 1 and headings.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(headings)), headings
    assert all(a.get("scope") in ("col", "row") for a in page.having("th"))
    for svg in page.having("svg"):
        assert svg.get("role") == "img"
        assert all(label in page.ids for label in svg["aria-labelledby"].split())
    return page


def test_activity_counts_weeks_denials_and_shares_for_the_plots() -> None:
    facts = RecordFacts(arrests={"a1": ArrestFact("p1", True, False), "a2": ArrestFact("p2", False, False)})
    seen = Activity(facts, OversightConfig(min_people=2))

    def entry(day: str, user: str, decision: str = "allow", **kw: Any) -> dict[str, Any]:
        return {"kind": "access", "agreement_id": "ice-2017", "user": user, "time": f"{day}T10:00:00+00:00",
                "action": "search", "decision": decision, "arrest_ids": [], **kw}  # fmt: skip

    stream = [
        entry("2018-06-04", "ann", arrest_ids=["a1", "a2"]),  # a Monday
        entry("2018-06-10", "ann", arrest_ids=["a1", "gone"]),  # Sunday: same week; "gone" is unknown
        entry("2018-06-25", "bob", "deny", rule="rate_limit"),
        entry("2018-06-26", "bob", "deny"),
        entry("2018-06-27", "bob", action="feed", arrest_ids=["a1"]),  # nobody chose a feed
    ]
    for i, e in enumerate(stream):
        seen.observe(i, e)
    [item] = seen.to_json()
    assert item["weeks"] == ["2018-06-04", "2018-06-11", "2018-06-18", "2018-06-25"]
    assert item["requests"] == {"ann": [2, 0, 0, 0], "bob": [0, 0, 0, 3]}
    assert item["denials"] == {"rate_limit": 1, "(no rule)": 1}
    [ann] = item["origin"]["users"]
    assert (ann["user"], ann["n"], ann["k"], ann["share"], ann["tested"]) == ("ann", 2, 1, 0.5, True)
    assert 0.0 < ann["ci"][0] < 0.5 < ann["ci"][1] < 1.0


def test_number_formats_statistics_for_readers() -> None:
    assert number(1234) == "1,234" and number(None) == "-" and number(float("nan")) == "-"
    assert (
        number(1.1e-23) == "1.10e-23" and number(0.2209) == "0.221" and number([1.5, 2.25]) == "1.5 to 2.25"
    )
    assert number(1234.5) == "1,234" and number(12.34) == "12.3"


def test_the_page_names_agent7_with_evidence_whose_proofs_verify(city: City) -> None:  # noqa: F811
    store = city[0]
    report = drive(city, misuse=True)
    assert report["findings"]
    html = render_html(store, report)
    page = check_page(html)
    for section in ("summary", "findings", "agreements", "power", "proofs", "checking"):
        assert section in page.ids
    assert "no-findings" not in page.ids
    assert page.text_of("log-verified") == "Yes"
    root_hex, size = page.text_of("log-root"), report["log"]["size"]
    assert root_hex == report["log"]["root_hex"]
    assert f"pars audit prove --index I --size {size}" in page.text_of("checking")
    assert "/v1/audit/proof/inclusion" in page.text_of("checking")
    # Three plots for the agreement, inline, each titled.
    svgs = page.having("svg")
    assert len(svgs) == 3 and html.count("<title id=") == 3
    proofs = {int(a["data-index"]): a for a in page.having("tr", **{"class": "proof"})}
    with store.read() as conn:
        assert log_size(conn) >= size
        for n, f in enumerate(report["findings"], 1):
            table = page.text_of(f"finding-{n}-evidence")
            assert f["summary"] in page.text_of(f"finding-{n}")
            rows = [
                int(a["data-index"]) for a in page.having("tr", f"finding-{n}-evidence", **{"class": "entry"})
            ]
            assert rows == f["evidence"]
            for i in f["evidence"]:
                doc = get_entry(conn, i).document()
                assert doc["user"] in table and doc["time"][:10] in table and doc["case_number"] in table
                row = proofs[i]
                leaf = bytes.fromhex(row["data-leaf-hash"])
                path = [bytes.fromhex(h) for h in row["data-proof"].split()]
                assert leaf == get_entry(conn, i).leaf_hash
                assert verify_inclusion(leaf, i, size, path, bytes.fromhex(root_hex))
                shown = page.text_of(f"proof-{i}")
                assert row["data-leaf-hash"] in shown and all(h in shown for h in row["data-proof"].split())
    # Entries hold keyed hashes, not the names searched for; the page shows neither.
    assert "Roe" not in html and "Name1" not in html and "912-34" not in html
    [kinds] = [{f["kind"] for f in report["findings"] if f["user"] == "agent7"}]
    assert {"origin_targeting", "forbidden_filter", "protected_role_probe"} <= kinds


def test_a_clean_period_says_so_with_the_power_of_the_tests(city: City) -> None:  # noqa: F811
    store = city[0]
    report = drive(city, misuse=False)
    assert report["findings"] == []
    page = check_page(render_html(store, report))
    assert "findings" not in page.ids and "proofs" not in page.ids
    statement = page.text_of("no-findings")
    assert statement.startswith("No findings.") and "80% probability" in statement
    assert report["summary"] in page.text_of("summary")
    power = page.text_of("power-table")
    assert "times" in power and "Singling out people born abroad" in power
    assert len(page.having("svg")) == 3  # requests, shares, and the one denial


def test_a_log_that_did_not_verify_is_shown_as_such(city: City) -> None:  # noqa: F811
    store = city[0]
    report = drive(city, misuse=False)
    report["log"]["verified"] = False
    page = check_page(render_html(store, report))
    assert page.text_of("log-verified") == "NO"
