"""The report's plots draw user names and rules as plain text: never as mathtext.

matplotlib reads a string with two unescaped ``$`` as mathematics (``a$b$c`` would
print a, an italic b and c; ``x_$^{1}$`` a superscript) and hides a legend label that
starts with ``_``; a user name is drawn exactly as it is written, or the report lies
about who did what (or fails to draw at all, as ``\\frac`` between dollars does).
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from pars.oversight.plots import denials_plot, origin_plot, requests_plot
from tests.test_oversight_html import City
from tests.test_oversight_story import city  # noqa: F401  (the fixture, on SQLite and PostgreSQL)

NAMES = ["a$b$c", "x_$^{1}$", "\\frac", "$\\frac{1}{$", "_nolegend_"]
_TEXT = re.compile(r"<text\b[^>]*>(.*?)</text>", re.S)


def drawn(svg: str) -> list[str]:
    """The strings drawn as SVG <text> (with svg.fonttype none, one element per plain label)."""
    return [html.unescape(t) for t in _TEXT.findall(svg)]


def item() -> dict[str, Any]:
    return {
        "agreement_id": "ice-2017",
        "weeks": ["2018-06-04", "2018-06-11", "2018-06-18"],
        "requests": {name: [3, 1 + i, 2] for i, name in enumerate(NAMES)},
        "origin": {
            "users": [
                {"user": name, "n": 12, "share": 0.25 + 0.1 * i, "ci": [0.05, 0.95], "tested": True}
                for i, name in enumerate(NAMES)
            ],
            "baseline_share": 0.2,
            "confidence": 0.95,
        },
        "denials": {"search.forbid_filters.$x$": 3, "purposes": 2},
    }


def test_user_names_are_drawn_as_written_in_the_requests_legend() -> None:
    texts = drawn(requests_plot(item(), "req"))
    for name in NAMES:
        assert name in texts, (name, texts[-8:])


def test_user_names_are_drawn_as_written_on_the_share_plot() -> None:
    texts = drawn(origin_plot(item(), "origin", {"a$b$c"}) or "")
    assert "a$b$c (n=12) - finding" in texts
    for name in NAMES[1:]:
        assert f"{name} (n=12)" in texts, (name, texts)


def test_rule_names_are_drawn_as_written_on_the_denials_plot() -> None:
    assert "search.forbid_filters.$x$" in drawn(denials_plot(item(), "denials") or "")


@pytest.mark.parametrize("name", NAMES)
def test_one_odd_name_alone_still_draws(name: str) -> None:
    one = item()
    one["requests"] = {name: [1, 2, 3]}
    assert name in drawn(requests_plot(one, "one"))


def test_the_html_report_draws_odd_user_names_on_both_stores(city: City) -> None:  # noqa: F811
    """The issue's case end to end: users named with $ and \\ search through the gate; the page renders."""
    from datetime import timedelta

    from pars.gate import admin_event_recorder, issue_token
    from pars.oversight import build_report
    from pars.oversight.html import render_html
    from tests.test_oversight_html import check_page

    store, gate, log, pools = city
    clock = log.clock
    odd = NAMES[:3]
    for k, user in enumerate(odd * 4):
        token, _ = issue_token(
            store, clock, role="partner", user=user, agreement_id="ice-2017",
            record_admin_event=admin_event_recorder(log),
        )  # fmt: skip
        body = {"purpose": "C", "case_number": f"18-{k:03d}", "justification": "Burglary investigation",
                "filters": {"last_name": f"Name{pools['all'][k]}", "first_name": "Pat"}}  # fmt: skip
        gate.search(gate.authenticate(token), body)
        clock.set(clock.now() + timedelta(hours=5))  # type: ignore[attr-defined]
    report = build_report(store, hmac_key=log.keys.hmac_key, now=clock.now(), verifier_key=log.verifier_key)
    page = render_html(store, report)
    check_page(page)
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    texts = [t for svg in svgs for t in drawn(svg)]
    for user in odd:
        assert user in texts, (user, [t for t in texts if "$" in t or "\\" in t])
