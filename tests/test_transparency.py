"""The public transparency report: per agency, purpose and month, small counts suppressed.

Suppression is checked against an independent exact solver: from what a table
shows and the sums it states, no withheld count can be worked out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pars.audit import AuditLog, build_entry, init_log
from pars.cli import app
from pars.clock import FixedClock
from pars.oversight.suppression import WITHHELD, suppress
from pars.oversight.transparency import build_transparency, render_transparency
from pars.store.db import Store
from tests.test_oversight_html import check_page

runner = CliRunner()
NOW = datetime(2019, 1, 1, tzinfo=UTC)
USERS = ("agent7", "analyst0", "analyst1", "clerk-jones")


def determined(full: list[list[Fraction | int | str]]) -> list[tuple[int, int]]:
    """Withheld cells that the shown counts and the row/column sums fix exactly (Gauss-Jordan, exact)."""
    rows, cols = len(full), len(full[0])
    hidden = [(i, j) for i in range(rows) for j in range(cols) if isinstance(full[i][j], str)]
    col = {c: k for k, c in enumerate(hidden)}
    lines = [[(i, j) for j in range(cols)] for i in range(rows)] + [
        [(i, j) for i in range(rows)] for j in range(cols)
    ]
    matrix = []
    for line in lines:
        total = line[-1]
        row = [Fraction(0)] * len(hidden)
        for c in line:
            if c in col:
                row[col[c]] += -1 if c == total else 1
        matrix.append(row)
    pivot_row = 0
    pivots = []
    for k in range(len(hidden)):
        found = next((r for r in range(pivot_row, len(matrix)) if matrix[r][k] != 0), None)
        if found is None:
            continue
        matrix[pivot_row], matrix[found] = matrix[found], matrix[pivot_row]
        p = matrix[pivot_row][k]
        matrix[pivot_row] = [v / p for v in matrix[pivot_row]]
        for r in range(len(matrix)):
            if r != pivot_row and matrix[r][k] != 0:
                f = matrix[r][k]
                matrix[r] = [a - f * b for a, b in zip(matrix[r], matrix[pivot_row], strict=True)]
        pivots.append(k)
        pivot_row += 1
    return [hidden[k] for r, k in enumerate(pivots) if sum(1 for v in matrix[r] if v != 0) == 1]


def assert_protected(shown: list[list[Any]], additive: bool = True) -> None:
    for row in shown:
        for v in row:
            assert isinstance(v, str) or not 0 < v < 10, shown
    lines = [list(r) for r in shown] + [list(c) for c in zip(*shown, strict=True)]
    for line in lines:
        assert sum(isinstance(v, str) for v in line) != 1, shown
    if additive:
        assert determined(shown) == [], shown


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
    # Degree alone (two withheld per line) is not enough here; the exact check catches it.
    grid = suppress([[5, 5, 0, 0], [5, 5, 20, 0], [0, 0, 5, 5], [0, 0, 5, 5]])
    assert_protected(grid.shown())


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda cols: st.lists(
            st.lists(st.sampled_from([0, 1, 2, 5, 9, 10, 11, 25, 80]), min_size=cols, max_size=cols),
            min_size=1,
            max_size=5,
        )
    )
)
def test_no_suppressed_count_can_be_recovered(grid: list[list[int]]) -> None:
    assert_protected(suppress(grid).shown())


@pytest.fixture
def log(sqlite_store: Store, tmp_path: Path) -> tuple[Store, AuditLog]:
    init_log(sqlite_store, str(tmp_path / "keys"))
    return sqlite_store, AuditLog.open(str(tmp_path / "keys"), clock=FixedClock(NOW), checkpoint_interval=0)


def entries(log: AuditLog) -> list[Any]:
    """ICE busy in two months with a few denials; a small agency with a handful of requests."""
    out = []
    plan = [
        ("ice-2017", "ICE", "C", 2018, 6, 140),
        ("ice-2017", "ICE", "C", 2018, 7, 95),
        ("ice-2017", "ICE", "W", 2018, 7, 4),
        ("da-2018", "Office of the DA", "P", 2018, 6, 30),
        ("da-2018", "Office of the DA", "P", 2018, 8, 7),
        ("hr-2018", "City HR", "EMP", 2018, 7, 3),
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
    store, audit = log
    with store.write() as conn:
        audit.append(conn, entries(audit))
    data = build_transparency(store, now=NOW)
    text = json.dumps(data)
    assert not any(u in text for u in USERS) and "A-2018-" not in text and "P-00" not in text
    by_name = {a["agency"]: a for a in data["agencies"]}
    assert list(by_name) == ["City HR", "ICE", "Office of the DA"]
    ice = by_name["ICE"]
    assert ice["months"] == ["2018-06", "2018-07"] and [p["code"] for p in ice["purposes"]] == ["C", "W"]
    requests = ice["tables"]["requests"]
    assert requests["rows"][0]["month"] == "2018-06" and requests["rows"][0]["cells"][1] == 0
    assert requests["rows"][1]["cells"][1] == "<10"
    assert requests["column_totals"][1] == "<10"
    hr = by_name["City HR"]["tables"]["requests"]
    assert hr["total"] == "<10" and hr["rows"][0]["cells"] == ["<10"]
    assert by_name["Office of the DA"]["months"] == ["2018-06", "2018-07", "2018-08"]
    for agency in data["agencies"]:
        for measure, table in agency["tables"].items():
            shown = [[*r["cells"], r["total"]] for r in table["rows"]]
            shown.append([*table["column_totals"], table["total"]])
            assert_protected(shown, additive=measure != "people")
    assert "complementary suppression" in data["method"]
    page = check_page(render_transparency(data))
    for a in range(1, 4):
        for measure in ("requests", "denials", "people"):
            cells = page.text_of(f"agency-{a}-{measure}").split()
            assert not any(c.isdigit() and 0 < int(c) < 10 for c in cells), cells
    assert "complementary suppression" in page.text_of("method")
    html = render_transparency(data)
    assert not any(u in html for u in USERS)


def test_the_cli_prints_json_and_writes_html(log: tuple[Store, AuditLog], tmp_path: Path) -> None:
    store, audit = log
    with store.write() as conn:
        audit.append(conn, entries(audit))
    env = {"PARS_DATABASE_URL": store.url}
    printed = runner.invoke(app, ["oversight", "transparency"], env=env)
    assert printed.exit_code == 0, printed.output
    assert [a["agency"] for a in json.loads(printed.stdout)["agencies"]] == [
        "City HR",
        "ICE",
        "Office of the DA",
    ]
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
    assert "2018-06" not in page.text_of("agency-2-requests")
