"""The oversight report as one self-contained HTML5 page, for a solicitor or a council committee.

``render_html`` takes a report from ``build_report`` and the store it came from
(for the cited entries and their inclusion proofs) and returns the page: the log
and whether it verified, each agreement's figures and plots, each finding with its
statistics and evidence, every piece of evidence with the proof that it is in the
log, and, when nothing was found, what the tests could have found.

    page = render_html(store, build_report(store, hmac_key=k, now=now))

Rule: the page stands alone: styles and plots are inline, nothing is fetched from
anywhere (no URL, no font, no script), and every value is escaped by the template.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pars.audit import stored_checkpoint
from pars.oversight.config import OversightConfig
from pars.oversight.evidence import EvidenceRow, Tree, load_evidence
from pars.oversight.plots import denials_plot, origin_plot, requests_plot
from pars.store.db import Store

KIND_TITLES = {
    "forbidden_filter": "Filtering on a forbidden field",
    "origin_targeting": "Singling out people born abroad",
    "non_criminal_targeting": "Seeking out arrests that led to no crime",
    "protected_role_probe": "Searching for victims or witnesses",
    "bulk_access": "Bulk access",
    "vague_justification": "Missing, boilerplate or reused reasons",
    "purpose_mismatch": "A purpose the agreement does not permit",
    "out_of_term_access": "Access outside the agreement's term",
}

STAT_LABELS = {
    "test": "test",
    "seen_as": "how it was seen",
    "expected": "expected count, each query at its own filter's base rate (E)",
    "variance": "variance of the count",
    "z": "z = (k - E) / sqrt(variance)",
    "n": "distinct people or arrests seen (n)",
    "k": "of them with the trait (k)",
    "share": "share with the trait",
    "baseline_share": "share in the agreement's scope",
    "baseline_n": "people or arrests in scope",
    "ratio": "ratio of the shares",
    "ratio_ci": "interval of the ratio",
    "confidence": "confidence of the interval",
    "p_value": "p-value",
    "q_value": "q-value (Benjamini-Hochberg adjusted)",
    "alpha": "false discovery rate allowed (alpha)",
    "subjects_tested": "users and agencies tested",
    "excluded_expunged": "expunged records left out",
    "excluded_unknown": "unknown records left out",
}


def number(value: Any) -> str:
    """A statistic's value as a reader wants it: thousands separated, small p-values in e-notation."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value == 0.0:
            return "0"
        if abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, list | tuple):
        if len(value) == 2 and all(isinstance(v, int | float) for v in value):
            return f"{number(value[0])} to {number(value[1])}"
        return ", ".join(number(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {number(v)}" for k, v in value.items())
    return str(value)


def _stat(key: str, value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and (key.endswith("share") or key == "confidence"):
        return f"{value:.1%}"
    return number(value)


def stat_rows(statistic: dict[str, Any]) -> list[tuple[str, str]]:
    """A finding's ``statistic`` as (label, value) rows; shares as percentages."""
    return [(STAT_LABELS.get(k, k.replace("_", " ")), _stat(k, v)) for k, v in statistic.items()]


def detectable(power: dict[str, Any], at: dict[str, Any]) -> str:
    """One cell of the power table: the smallest ratio found with the stated power, or why none."""
    share = power.get("baseline_share")
    if share is None or not 0.0 < share < 1.0:
        return "not testable: the share in scope is " + ("unknown" if share is None else f"{share:.0%}")
    if at.get("min_ratio") is None:
        return "too few seen to test"
    return f"{at['min_ratio']:.2f} times"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pars.oversight", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number
    env.globals["detectable"] = detectable
    return env


ENV = _environment()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def agreement_sections(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each agreement's summary, plots (inline SVG, already safe) and findings, in the report's order."""
    activity = {a["agreement_id"]: a for a in report.get("activity", ())}
    out = []
    for n, agreement in enumerate(report["agreements"]):
        aid = agreement["id"]
        item = activity.get(aid)
        flagged = {
            f["user"]
            for f in report["findings"]
            if f["agreement_id"] == aid and f["kind"] == "origin_targeting" and f["user"]
        }
        plots: list[dict[str, Any]] = []
        if item is not None:
            name = f"a{n}-{_slug(aid)}"
            drawn = [
                ("Requests per user per week", requests_plot(item, f"{name}-requests")),
                (
                    "Foreign-born share of the people each user saw",
                    origin_plot(item, f"{name}-origin", flagged),
                ),
                ("Denials by rule", denials_plot(item, f"{name}-denials")),
            ]
            plots = [{"title": t, "svg": Markup(svg)} for t, svg in drawn if svg is not None]  # noqa: S704
        out.append(
            {
                "agreement": agreement,
                "anchor": f"agreement-{_slug(aid)}",
                "plots": plots,
                "findings": [i for i, f in enumerate(report["findings"]) if f["agreement_id"] == aid],
            }
        )
    return out


def finding_views(report: dict[str, Any], rows: dict[int, EvidenceRow]) -> list[dict[str, Any]]:
    out = []
    for i, f in enumerate(report["findings"]):
        out.append(
            {
                "finding": f,
                "anchor": f"finding-{i + 1}",
                "number": i + 1,
                "title": KIND_TITLES.get(f["kind"], f["kind"]),
                "stats": stat_rows(f["statistic"]),
                "evidence": [rows[x] for x in f["evidence"] if x in rows],
                "missing": [x for x in f["evidence"] if x not in rows],
            }
        )
    return out


def _checkpoint(store: Store, size: int) -> str | None:
    with store.read() as conn:
        cp = stored_checkpoint(conn, size)
    return None if cp is None else cp.note


def render_html(store: Store, report: dict[str, Any], *, config: OversightConfig | None = None) -> str:
    """The report as a standalone HTML5 page (UTF-8 text)."""
    config = config or OversightConfig()
    tree, rows = load_evidence(store, report)
    # The published checkpoint the report names (its cosignatures too); a stored one if absent.
    published = report["log"].get("checkpoint") or _checkpoint(store, tree.size)
    return page(report, tree, rows, checkpoint=published, config=config)


def page(
    report: dict[str, Any],
    tree: Tree,
    rows: dict[int, EvidenceRow],
    *,
    checkpoint: str | None = None,
    config: OversightConfig | None = None,
) -> str:
    """Render from values alone (no store): what ``render_html`` does once it has read the evidence."""
    config = config or OversightConfig()
    period = report.get("period") or {}
    return ENV.get_template("report.html").render(
        report=report,
        tree=tree,
        checkpoint=checkpoint,
        period_from=period.get("from"),
        period_to=period.get("to"),
        lookback_from=period.get("lookback_from"),
        lookback_days=period.get("lookback_days"),
        sections=agreement_sections(report),
        findings=finding_views(report, rows),
        proofs=[rows[i] for i in sorted(rows)],
        kind_titles=KIND_TITLES,
        max_evidence=config.max_evidence,
        purpose_name=config.purpose_name,
    )
