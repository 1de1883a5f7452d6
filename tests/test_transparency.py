"""The public transparency report: per agency, purpose and month, small counts suppressed.

Suppression is checked by an attacker written here, apart from the code's own
audit: an integer program over what a table shows, the totals it states and the
bounds a reader knows ("<10" is 1..9; "withheld" is 0 or at least 10, or only
>= 0 for the weaker reading), which tries to pin every withheld count to one
value and must fail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from sqlalchemy import insert
from typer.testing import CliRunner

from pars.audit import AuditLog, build_entry, init_log
from pars.cli import app
from pars.clock import FixedClock
from pars.oversight.disclosure import DisclosureRisk, Published, Sheet, audit
from pars.oversight.suppression import WITHHELD, Table, protect, suppress
from pars.oversight.transparency import (
    NCIC_PURPOSES,
    OTHER,
    OTHER_AGENCY,
    build_transparency,
    render_transparency,
)
from pars.store.db import Store
from pars.store.schema.agreements import agreements
from tests.test_oversight_html import check_page

runner = CliRunner()
NOW = datetime(2019, 1, 1, tzinfo=UTC)
USERS = ("agent7", "analyst0", "analyst1", "clerk-jones")
ISSUE_EXAMPLE = [[1, 1, 40], [20, 20, 30]]


def attack(
    sheets: dict[str, tuple[list[list[Any]], bool]], *, at_most: bool = False, strong: bool = True
) -> dict[tuple[str, int, int], tuple[int, int]]:
    """Min and max of every withheld cell over the integer tables consistent with what is shown.

    One variable per cell (shown cells fixed), dense constraints: each additive line
    sums to its margin; a distinct-count margin lies between the line's largest cell
    and its sum; with ``at_most``, denials <= requests in every cell.
    """
    names = list(sheets)
    rows, cols = len(sheets[names[0]][0]), len(sheets[names[0]][0][0])
    per = rows * cols
    n = per * len(names)

    def var(s: int, i: int, j: int) -> int:
        return s * per + i * cols + j

    lb, ub, kind = np.zeros(n), np.zeros(n), np.ones(n)
    for s, name in enumerate(names):
        for i, row in enumerate(sheets[name][0]):
            for j, v in enumerate(row):
                k = var(s, i, j)
                if v == "<10":
                    lb[k], ub[k] = 1, 9
                elif v == WITHHELD:
                    lb[k], ub[k], kind[k] = (10, 100_000, 3) if strong else (0, 100_000, 1)
                else:
                    lb[k] = ub[k] = v
    a_rows: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []

    def constraint(coefs: dict[int, float], low: float, high: float) -> None:
        row = np.zeros(n)
        for k, c in coefs.items():
            row[k] += c
        a_rows.append(row)
        lo.append(low)
        hi.append(high)

    for s, name in enumerate(names):
        additive = sheets[name][1]
        lines = [[(i, j) for j in range(cols)] for i in range(rows)]
        lines += [[(i, j) for i in range(rows)] for j in range(cols)]
        for line in lines:
            *inner, margin = [var(s, *c) for c in line]
            if additive:
                constraint({**{k: 1 for k in inner}, margin: -1}, 0, 0)
            else:
                constraint({**{k: 1 for k in inner}, margin: -1}, 0, np.inf)
                for k in inner:
                    constraint({margin: 1, k: -1}, 0, np.inf)
    if at_most:
        d, r = names.index("denials"), names.index("requests")
        for i in range(rows):
            for j in range(cols):
                constraint({var(r, i, j): 1, var(d, i, j): -1}, 0, np.inf)
    cons = [LinearConstraint(np.array(a_rows), lo, hi)]
    out = {}
    for s, name in enumerate(names):
        for i, row in enumerate(sheets[name][0]):
            for j, v in enumerate(row):
                if isinstance(v, str):
                    k = var(s, i, j)
                    found = []
                    for sense in (1, -1):
                        c = np.zeros(n)
                        c[k] = sense
                        res = milp(c, integrality=kind, bounds=Bounds(lb, ub), constraints=cons)
                        assert res.status == 0, (name, i, j, res.message)
                        found.append(round(res.x[k]))
                    out[(name, i, j)] = (min(found), max(found))
    return out


def assert_protected(shown: list[list[Any]], additive: bool = True) -> None:
    """No small count shown, no line with a single withheld cell, no withheld count pinned."""
    for row in shown:
        for v in row:
            assert isinstance(v, str) or not 0 < v < 10, shown
    if additive:
        lines = [list(r) for r in shown] + [list(c) for c in zip(*shown, strict=True)]
        for line in lines:
            assert sum(isinstance(v, str) for v in line) != 1, shown
    # The strong reading's tables are among the weak reading's: two values there are two here.
    for cell, (lo, hi) in attack({"t": (shown, additive)}).items():
        assert lo < hi, (cell, lo, hi, shown)


def test_the_attack_recovers_the_issue_example_from_pairing_alone() -> None:
    # What pairing each line's lone withheld cell gave before: the row says the two
    # "<10" cells add up to 2, so with bounds 1..9 both are 1.
    old: list[list[Any]] = [["<10", "<10", 40, 42], [WITHHELD, WITHHELD, 30, 70], [21, 21, 70, 112]]
    found = attack({"t": (old, True)}, strong=False)
    assert found[("t", 0, 0)] == (1, 1) and found[("t", 0, 1)] == (1, 1)
    with pytest.raises(DisclosureRisk, match=r"t\[0\]\[0\]"):
        audit(Published({"t": Sheet(old)}))


def test_the_issue_example_cannot_be_recovered() -> None:
    grid = suppress(ISSUE_EXAMPLE)
    shown = grid.shown()
    assert shown[0][0] == shown[0][1] == "<10"
    assert_protected(shown)
    assert all(lo < hi for lo, hi in audit(Published({"t": Sheet(shown)})).values())


def test_a_lone_small_count_takes_a_partner_in_its_row_and_column() -> None:
    grid = suppress([[12, 3], [40, 25]])
    shown = grid.shown()
    assert shown[0][1] == "<10" and shown[0][2] == 15 and shown[2] == [52, 28, 80]
    assert sum(v == WITHHELD for row in shown for v in row) >= 3
    assert_protected(shown)


def test_zeros_are_shown_and_big_tables_keep_most_counts() -> None:
    grid = suppress([[0, 40, 50], [30, 0, 60], [20, 70, 0]])
    assert grid.shown()[0][0] == 0 and not grid.primary and not grid.complementary


def test_two_tiny_blocks_joined_by_one_cell_are_still_protected() -> None:
    grid = suppress([[5, 5, 0, 0], [5, 5, 20, 0], [0, 0, 5, 5], [0, 0, 5, 5]])
    assert_protected(grid.shown())


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda cols: st.lists(
            st.lists(st.sampled_from([0, 1, 2, 5, 9, 10, 11, 25, 80]), min_size=cols, max_size=cols),
            min_size=1,
            max_size=4,
        )
    )
)
def test_no_suppressed_count_can_be_recovered(grid: list[list[int]]) -> None:
    assert_protected(suppress(grid).shown())


def test_denials_never_exceeding_requests_is_part_of_the_audit() -> None:
    # Each table alone is safe; a reader who also knows denials <= requests in every
    # cell gets d[1][0] <= 25 = r[1][0], so d[1][0] = 34 - d[0][0] >= 25 pins d[0][0] = 9.
    requests, denials = [[12, 12], [25, 40]], [[9, 1], [25, 27]]
    alone = {"requests": suppress(requests).shown(), "denials": suppress(denials).shown()}
    for shown in alone.values():
        assert_protected(shown)
    found = attack({n: (alone[n], True) for n in alone}, at_most=True)
    assert found[("denials", 0, 0)] == (9, 9)
    full = {n: suppress(g).full for n, g in (("requests", requests), ("denials", denials))}
    grids = protect({n: Table(f) for n, f in full.items()}, at_most=[("denials", "requests")])
    together = {n: (g.shown(), True) for n, g in grids.items()}
    for cell, (lo, hi) in attack(together, at_most=True).items():
        assert lo < hi, (cell, together)


def test_people_shown_only_where_a_request_was_allowed_is_part_of_the_audit() -> None:
    # People seen in a cell mean requests - denials >= 1 there; a suppression that
    # ignores this leaves requests[0][0] pinned for a reader who knows it.
    at_most, needs = [("denials", "requests")], [("people", "requests", "denials")]
    people = [[2, 3, 5], [0, 0, 0], [2, 3, 5]]  # distinct counts: margins are not sums
    tables = {
        "requests": Table(suppress([[1, 5], [5, 30]]).full),
        "denials": Table(suppress([[0, 4], [5, 30]]).full),
        "people": Table(people, additive=False),
    }

    def published(grids: dict[str, Any], links: list[Any]) -> Published:
        return Published({n: Sheet(g.shown(), n != "people") for n, g in grids.items()}, at_most, links)

    unaware = protect(tables, at_most=at_most)
    audit(published(unaware, []))
    with pytest.raises(DisclosureRisk, match=r"^requests\[0\]\[0\]: a reader could work"):
        audit(published(unaware, needs))
    aware = protect(tables, at_most=at_most, needs=needs)
    assert all(lo < hi for lo, hi in audit(published(aware, needs)).values())


def test_a_published_table_that_gives_a_count_away_is_refused() -> None:
    with pytest.raises(DisclosureRisk, match="work this withheld count out"):
        audit(Published({"t": Sheet([["<10", 30, 35], ["<10", 30, 35], [10, 60, 70]])}))
    with pytest.raises(DisclosureRisk, match="contradict"):
        audit(Published({"t": Sheet([[20, 30, 51], [20, 30, 50], [40, 60, 100]])}))


HOSTILE = '<script>alert("Charles Garcia")</script> <b>Charles Garcia</b>, DOB 1993-09-27'


@pytest.fixture
def log(store: Store, tmp_path: Path) -> tuple[Store, AuditLog]:
    init_log(store, str(tmp_path / "keys"))
    with store.write() as conn:
        for agreement, partner in (("ice-2017", "ICE"), ("da-2018", "DA"), ("hr-2018", "HR")):
            row = {"agreement_id": agreement, "partner": partner, "created_at": NOW.isoformat()}
            conn.execute(insert(agreements).values({**row, "created_utc": NOW.replace(tzinfo=None)}))
    return store, AuditLog.open(str(tmp_path / "keys"), clock=FixedClock(NOW), checkpoint_interval=0)


def entries(log: AuditLog) -> list[Any]:
    """ICE busy in two months with a few denials; small agencies with a handful of requests.

    Purposes other than NCIC codes, and an agreement not on file, carry hostile text.
    """
    out = []
    plan = [
        ("ice-2017", "ICE", "C", 2018, 6, 140),
        ("ice-2017", "ICE", "C", 2018, 7, 95),
        ("ice-2017", "ICE", "IMM", 2018, 7, 4),
        ("da-2018", "DA", "C", 2018, 6, 30),
        ("da-2018", "DA", "J", 2018, 8, 7),
        ("hr-2018", "HR", HOSTILE, 2018, 7, 3),
        ("rogue-1", HOSTILE, HOSTILE, 2018, 7, 12),
    ]
    for agreement, agency, purpose, year, month, n in plan:
        for k in range(n):
            denied = k % 12 == 0
            out.append(
                build_entry(
                    hmac_key=log.keys.hmac_key,
                    time=datetime(year, month, 1, tzinfo=UTC) + timedelta(hours=k),
                    kind="access",
                    action="search",
                    decision="deny" if denied else "allow",
                    status=403 if denied else 200,
                    agreement_id=agreement,
                    agency=agency,
                    user=USERS[k % len(USERS)],
                    purpose=purpose,
                    rule="allow",
                    arrest_ids=[] if denied else [f"A-2018-{k % 50:06d}"],
                    person_ids=[] if denied else [f"P-{k % 50:04d}"],
                )
            )
    return sorted(out, key=lambda e: e.time)  # logged in time order: times never go backwards


def test_the_public_report_counts_per_agency_purpose_and_month_and_names_nobody(
    log: tuple[Store, AuditLog], tmp_path: Path
) -> None:
    store, audit_log = log
    with store.write() as conn:
        audit_log.append(conn, entries(audit_log))
    data = build_transparency(store, now=NOW)
    text = json.dumps(data)
    assert not any(u in text for u in USERS) and "A-2018-" not in text and "P-00" not in text
    by_name = {a["agency"]: a for a in data["agencies"]}
    assert list(by_name) == ["DA", "HR", "ICE", OTHER_AGENCY]
    assert by_name[OTHER_AGENCY]["agreements"] == [] and by_name["ICE"]["agreements"] == ["ice-2017"]
    ice = by_name["ICE"]
    assert ice["months"] == ["2018-06", "2018-07"] and [p["code"] for p in ice["purposes"]] == ["C", OTHER]
    assert [p["code"] for p in by_name["DA"]["purposes"]] == ["C", "J"]
    assert by_name["DA"]["purposes"][1]["name"] == NCIC_PURPOSES["J"]
    requests = ice["tables"]["requests"]
    assert requests["rows"][0]["month"] == "2018-06" and requests["rows"][0]["cells"][1] == 0
    assert requests["rows"][1]["cells"][1] == "<10"
    assert requests["column_totals"][1] == "<10"
    hr = by_name["HR"]["tables"]["requests"]
    assert hr["total"] == "<10" and hr["rows"][0]["cells"] == ["<10"]
    assert [p["code"] for p in by_name["HR"]["purposes"]] == [OTHER]
    assert by_name["DA"]["months"] == ["2018-06", "2018-07", "2018-08"]
    for agency in data["agencies"]:
        sheets = {}
        for measure, table in agency["tables"].items():
            shown = [[*r["cells"], r["total"]] for r in table["rows"]]
            shown.append([*table["column_totals"], table["total"]])
            assert_protected(shown, additive=measure != "people")
            sheets[measure] = (shown, measure != "people")
        linked = {m: sheets[m] for m in ("requests", "denials")}
        assert all(lo < hi for lo, hi in attack(linked, at_most=True).values())
    assert "complementary suppression" in data["method"]
    html = render_transparency(data)
    page = check_page(html)
    for a in range(1, 5):
        for measure in ("requests", "denials", "people"):
            cells = page.text_of(f"agency-{a}-{measure}").split()
            assert not any(c.isdigit() and 0 < int(c) < 10 for c in cells), cells
    assert "complementary suppression" in page.text_of("method")
    for published in (text, html):
        assert not any(u in published for u in USERS)
        for fragment in ("Charles", "Garcia", "script", "<b>", "&lt;b", "1993", "IMM", "rogue-1"):
            assert fragment not in published, fragment


def test_the_report_refuses_tables_edited_to_give_a_count_away(log: tuple[Store, AuditLog]) -> None:
    store, audit_log = log
    with store.write() as conn:
        audit_log.append(conn, entries(audit_log))
    data = build_transparency(store, now=NOW)
    hr = next(a for a in data["agencies"] if a["agency"] == "HR")
    hr["tables"]["requests"]["total"] = 3  # the one "<10" total: now its cell is pinned
    with pytest.raises(DisclosureRisk):
        render_transparency(data)


def test_the_cli_prints_json_and_writes_html(log: tuple[Store, AuditLog], tmp_path: Path) -> None:
    store, audit_log = log
    with store.write() as conn:
        audit_log.append(conn, entries(audit_log))
    env = {"PARS_DATABASE_URL": store.url}
    printed = runner.invoke(app, ["oversight", "transparency"], env=env)
    assert printed.exit_code == 0, printed.output
    assert [a["agency"] for a in json.loads(printed.stdout)["agencies"]] == ["DA", "HR", "ICE", OTHER_AGENCY]
    out = tmp_path / "transparency.html"
    written = runner.invoke(
        app,
        [
            "oversight",
            "transparency",
            "--format",
            "html",
            "--out",
            str(out),
            "--from",
            "2018-07-01T00:00:00Z",
        ],
        env=env,
    )
    assert written.exit_code == 0, written.output
    page = check_page(out.read_text(encoding="utf-8"))
    assert "2018-06" not in page.text_of("agency-3-requests")  # ICE, busy in June


def test_the_count_withheld_beside_an_exposed_one_is_the_cheapest_on_its_lines() -> None:
    """``_beside``: on the exposed cell's row or column first (a non-zero inner count, the
    smallest), else elsewhere in its table, else in another table, else none."""
    from pars.oversight.suppression import _beside

    full = [[1, 50, 3, 54], [20, 2, 30, 52], [21, 52, 33, 106]]
    tables = {"t": Table(full), "u": Table([[5, 5], [5, 5]])}
    none: dict[str, set[tuple[int, int]]] = {"t": set(), "u": set()}
    hidden = {"t": {(0, 0)}, "u": set[tuple[int, int]]()}
    # Row 0 and column 0: 50, 3, 20 inside, 54 and 21 margins: 3 is the cheapest (2 is not on them).
    assert _beside(("t", 0, 0), tables, hidden, none) == ("t", (0, 2))
    # Every count on its lines withheld or shown: the cheapest elsewhere in its table.
    on_lines = {(0, 1), (0, 2), (0, 3), (1, 0), (2, 0)}
    assert _beside(("t", 0, 0), tables, {**hidden, "t": {(0, 0)} | on_lines}, none) == ("t", (1, 1))
    assert _beside(("t", 0, 0), tables, hidden, {**none, "t": on_lines}) == ("t", (1, 1))
    # Nothing left in its table: another table's; nothing anywhere: None.
    everything = {(i, j) for i in range(3) for j in range(4)}
    assert _beside(("t", 0, 0), tables, {**hidden, "t": everything}, none) == ("u", (0, 0))
    all_u = {(i, j) for i in range(2) for j in range(2)}
    assert _beside(("t", 0, 0), tables, {"t": everything, "u": all_u}, none) is None
