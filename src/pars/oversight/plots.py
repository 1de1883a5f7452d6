"""The report's plots, drawn with matplotlib's object API and returned as inline SVG.

Three pictures per agreement, from ``report["activity"]`` (see ``activity.py``):
requests per user per week, the foreign-born share of the people each user chose
to see against the share in scope (with exact intervals), and denials by rule.

    svg = requests_plot(item, "ice-2017-requests")   # "<svg role="img" ...>...</svg>"

Each SVG is self-contained and safe to inline in an HTML5 page many times over:
no XML prolog or DOCTYPE, no namespace URLs, ids prefixed by the plot's name (so
two plots never share an id), a ``<title>`` and ``<desc>`` for screen readers.

Rule: nothing is drawn through pyplot (no GUI backend, no global figure state), and
nothing in the output refers to anything outside it.
"""

from __future__ import annotations

import io
import re
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, cast

import matplotlib
from matplotlib.figure import Figure

#: Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
STYLES = ("-", "--", "-.", ":")
#: Most users drawn as their own line; the rest are summed into one.
MAX_LINES = 8
#: Most users in the share plot (users named in a finding always among them).
MAX_USERS = 30
MAX_RULES = 15

_RC: dict[str, Any] = {
    # User names, rules and agreement ids are drawn as written: never as mathtext
    # (a name like "a$b$c" or "x_$^{1}$" would otherwise be typeset, "\frac" fail).
    "text.parse_math": False,
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(xlink:href|href)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")


def _rc(**extra: Any) -> AbstractContextManager[None]:
    """The report's matplotlib settings, for this block only (never the global state)."""
    return matplotlib.rc_context(cast(Any, {**_RC, **extra}))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _svg(fig: Figure, name: str, title: str, desc: str) -> str:
    """The figure as an inline SVG element with ids under ``name`` and an accessible name."""
    buf = io.StringIO()
    with _rc(**{"svg.hashsalt": name}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f'href="#{name}-{m.group(2)}"', text)
    text = _URL.sub(lambda m: f"url(#{name}-{m.group(1)})", text)
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
    opening = text.index(">") + 1
    head = text[:opening].replace(
        "<svg", f'<svg role="img" aria-labelledby="{name}-title {name}-desc" class="plot"', 1
    )
    labels = f'<title id="{name}-title">{_escape(title)}</title><desc id="{name}-desc">{_escape(desc)}</desc>'
    return head + labels + text[opening:]


def _figure(height: float) -> Figure:
    with _rc():
        return Figure(figsize=(7.5, height), layout="constrained")


def requests_plot(item: dict[str, Any], name: str) -> str:
    """Requests per user per week: one line per busiest user, the rest summed."""
    weeks: Any = [date.fromisoformat(w) for w in item["weeks"]]  # matplotlib's stubs take no dates
    by_user = sorted(item["requests"].items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    lines = by_user[:MAX_LINES]
    rest = by_user[MAX_LINES:]
    if rest:
        summed = [sum(col) for col in zip(*(c for _, c in rest), strict=True)]
        lines.append((f"{len(rest)} other users (together)", summed))
    fig = _figure(3.2)
    with _rc():
        ax = fig.subplots()
        handles = []
        for i, (_, counts) in enumerate(lines):
            handles += ax.plot(weeks, counts, color=PALETTE[i % len(PALETTE)],
                               linestyle=STYLES[i % len(STYLES)], marker="o" if len(weeks) < 30 else None,
                               markersize=3, linewidth=1.4)  # fmt: skip
        ax.set_ylabel("requests per week")
        ax.set_xlabel("week starting (UTC)")
        ax.set_ylim(bottom=0)
        # Labels passed explicitly: a name starting with "_" is not taken for "no legend".
        ax.legend(handles, [user for user, _ in lines], fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), frameon=False)  # fmt: skip
        fig.autofmt_xdate()
    top = ", ".join(f"{u} {sum(c):,}" for u, c in by_user[:5])
    desc = (
        f"Line chart of requests per week from {item['weeks'][0]} to {item['weeks'][-1]}, one line per "
        f"user. Busiest users (total requests): {top}."
    )
    return _svg(fig, name, f"Requests per user per week, agreement {item['agreement_id']}", desc)


def origin_plot(item: dict[str, Any], name: str, flagged: set[str]) -> str | None:
    """Foreign-born share per user with its interval, against the share in scope; None if nobody seen."""
    origin = item["origin"]
    users = origin["users"]
    if not users:
        return None
    chosen = sorted(users, key=lambda u: (u["user"] not in flagged, -u["n"], u["user"]))[:MAX_USERS]
    chosen.sort(key=lambda u: (u["share"], u["user"]))
    fig = _figure(1.2 + 0.28 * len(chosen))
    with _rc():
        ax = fig.subplots()
        ys = list(range(len(chosen)))
        for y, u in zip(ys, chosen, strict=True):
            mark = u["user"] in flagged
            color = PALETTE[1] if mark else PALETTE[0]
            lo, hi = u["ci"]
            err = [[(u["share"] - lo) * 100], [(hi - u["share"]) * 100]]
            ax.errorbar([u["share"] * 100], [y], xerr=err, fmt="D" if mark else "o", color=color,
                        markersize=5 if mark else 4, markerfacecolor=color if u["tested"] else "white",
                        capsize=2, linewidth=1)  # fmt: skip
        labels = [f"{u['user']} (n={u['n']:,})" + (" - finding" if u["user"] in flagged else "")
                  for u in chosen]  # fmt: skip
        ax.set_yticks(ys, labels, fontsize=7)
        base = origin["baseline_share"]
        if base is not None:
            ax.axvline(base * 100, color="#444444", linestyle="--", linewidth=1,
                       label=f"share in scope {base:.1%}")  # fmt: skip
            ax.legend(fontsize=7, loc="lower right", frameon=False)
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"foreign-born share of the people seen (%), {origin['confidence']:.0%} exact interval")
    scope = "unknown" if base is None else f"{base:.1%}"
    top = "; ".join(f"{u['user']} {u['share']:.0%} of {u['n']:,}" for u in chosen[::-1][:5])
    desc = (
        f"Dot plot, one row per user, of the share of distinct people seen who were born abroad, with "
        f"{origin['confidence']:.0%} intervals; the dashed line is the share in scope ({scope}). Hollow "
        f"dots: too few people to test. Highest shares: {top}."
    )
    return _svg(fig, name, f"Foreign-born share seen per user, agreement {item['agreement_id']}", desc)


def denials_plot(item: dict[str, Any], name: str) -> str | None:
    """Denials per rule as horizontal bars; None if nothing was denied."""
    rules = list(item["denials"].items())[:MAX_RULES]
    if not rules:
        return None
    rules.reverse()
    fig = _figure(1.0 + 0.3 * len(rules))
    with _rc():
        ax = fig.subplots()
        ax.barh(range(len(rules)), [n for _, n in rules], color=PALETTE[0])
        ax.set_yticks(range(len(rules)), [r for r, _ in rules], fontsize=7)
        for y, (_, n) in enumerate(rules):
            ax.annotate(f"{n:,}", (n, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.set_xlabel("requests denied")
    desc = "Bar chart of denied requests by the rule that denied them: " + "; ".join(
        f"{r} {n:,}" for r, n in rules[::-1]
    )
    return _svg(fig, name, f"Denials by rule, agreement {item['agreement_id']}", desc + ".")
