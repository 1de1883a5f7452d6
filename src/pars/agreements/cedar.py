"""An agreement version as Cedar policies, and a request as a Cedar request.

Used to cross-check decide() against Cedar's formally specified evaluator (tests
and ``benchmarks/decide.py``) and printed by ``pars agreements export-cedar``.
One ``@id("clause")`` per clause, with the clause ids decide() reports, so a
denial can be matched to the policy that forbade it. This module only writes
text and dicts; it never imports ``cedarpy`` (a test-only dependency).

The filter clauses are written from the agreement document and the filter
registry, never from decide()'s compiled table, so the differential test checks
decide() against the contract rather than against itself.

Rule: every clause decide() checks has a policy here, and nothing else does; the
differential property test in ``tests/test_agreements_cedar.py`` holds both to it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pars.agreements.decide import AgreementVersion
from pars.agreements.document import AgreementDocument
from pars.agreements.request import Request
from pars.records.fields import FILTERS, GROUPS, SEARCHABLE_FILTERS, SORTABLE, expand_all

_ACTIONS = ("search", "read", "feed")
_LOOKUPS = '[Action::"search", Action::"read"]'


def _str(text: str) -> str:
    # Names reaching policies are validated codes, ids and filter names; refuse anything else.
    if not all(c.isalnum() or c in "_-.*+ " for c in text):
        raise ValueError(f"cannot write {text!r} into a Cedar policy")
    return f'"{text}"'


def _set(items: list[str]) -> str:
    return "[" + ", ".join(_str(i) for i in items) + "]"


def _epoch(t: datetime) -> int:
    return int(t.replace(microsecond=0).timestamp())


def to_cedar(version: AgreementVersion) -> str:
    """Cedar policies equivalent, allow for deny, to decide() under ``version``."""
    doc = version.document
    out: list[str] = []

    def policy(rule: str, effect: str, scope: str, cond: str = "") -> None:
        out.append(f'@id("{rule}")\n{effect} ({scope}){cond};\n')

    everyone = "principal, action, resource"
    lookups = f"principal, action in {_LOOKUPS}, resource"
    policy(
        "allow",
        "permit",
        f"principal == Partner::{_str(doc.partner)}, action in "
        f"[{', '.join(f'Action::{_str(a)}' for a in _ACTIONS)}], "
        f"resource == Agreement::{_str(version.agreement_id)}",
    )
    policy("term.start", "forbid", everyone, f"\nwhen {{ context.now < {_epoch(doc.term.start)} }}")
    policy("term.end", "forbid", everyone, f"\nwhen {{ context.now > {_epoch(version.ends_at)} }}")
    if not version.approved:
        policy("approvals", "forbid", everyone)
    if not doc.feed.enabled:
        policy("feed.enabled", "forbid", 'principal, action == Action::"feed", resource')
    policy(
        "purposes",
        "forbid",
        everyone,
        f"\nunless {{ {_set(sorted(doc.purposes))}.contains(context.purpose) }}",
    )
    if "case_number" in doc.search.require:
        policy("search.require.case_number", "forbid", lookups, "\nunless { context.has_case_number }")
    if "justification" in doc.search.require:
        policy(
            "search.require.justification",
            "forbid",
            lookups,
            "\nunless { context.has_justification }",
        )
    if doc.search.rate_limit is not None:
        n = doc.search.rate_limit.requests
        policy(
            "search.rate_limit",
            "forbid",
            everyone,  # feed opens and deliveries count too
            f"\nwhen {{ context.requests_in_window >= {n} }}",
        )
    known = _set(sorted(FILTERS))
    policy("filters.unknown", "forbid", lookups, f"\nunless {{ {known}.containsAll(context.filters) }}")
    policy("sort.unknown", "forbid", lookups, f"\nunless {{ {known}.containsAll(context.sort) }}")
    _filter_policies(doc, policy, lookups)
    return "\n".join(out)


def _filter_policies(doc: AgreementDocument, policy: Callable[..., None], lookups: str) -> None:
    """CONTRACT section 3's filter rule, written from the document's own keys.

    Deliberately NOT from decide()'s compiled table (``version.rules``): this is
    the second implementation the differential test holds decide() against. A
    filter or sort key reads a record path (the registry maps its name); it is
    allowed only if that path is in ``fields.allow``, not masked, not of a party
    role the agreement leaves out, not in a ``warrant_required`` group (a search
    spans records without the warrant), and its name (or another name reading the
    same path) is not in ``forbid_filters``; and only if the store can serve it.
    """
    reads = "context.paths"
    allowed = sorted(expand_all(doc.fields.allow))
    policy("fields.hidden_filter", "forbid", lookups, f"\nunless {{ {_set(allowed)}.containsAll({reads}) }}")
    if doc.fields.mask:
        masked = _set(sorted(doc.fields.mask))
        policy("fields.hidden_filter", "forbid", lookups, f"\nwhen {{ {masked}.containsAny({reads}) }}")
    role_hidden: set[str] = set()
    if "arrestee" not in doc.roles:  # the arrest's own person, and the id that names them
        role_hidden |= {"person_id", *(f"person.{f}" for f in GROUPS["person"])}
    if not {"victim", "witness"} & set(doc.roles):
        role_hidden |= {f"parties.{f}" for f in GROUPS["parties"]}
    if role_hidden:
        hidden = _set(sorted(role_hidden))
        policy("fields.hidden_filter", "forbid", lookups, f"\nwhen {{ {hidden}.containsAny({reads}) }}")
    for group in sorted(set(doc.warrant_required)):
        paths = _set([f"{group}.{f}" for f in GROUPS[group]])
        policy(f"warrant_required.{group}", "forbid", lookups, f"\nwhen {{ {paths}.containsAny({reads}) }}")
    if doc.search.forbid_filters:
        names = _set(sorted(doc.search.forbid_filters))
        paths = _set(sorted({FILTERS[n] for n in doc.search.forbid_filters}))
        policy(
            "search.forbid_filters",
            "forbid",
            lookups,
            f"\nwhen {{ {names}.containsAny(context.filters) || {names}.containsAny(context.sort)"
            f" || {paths}.containsAny({reads}) }}",
        )
    searchable, sortable = _set(sorted(SEARCHABLE_FILTERS)), _set(sorted(SORTABLE))
    served = f"\nunless {{ {searchable}.containsAll(context.filters) }}"
    policy("filters.unsearchable", "forbid", lookups, served)
    policy("sort.unsortable", "forbid", lookups, f"\nunless {{ {sortable}.containsAll(context.sort) }}")


def cedar_request(
    version: AgreementVersion, request: Request, now: datetime, *, requests_in_window: int = 0
) -> dict[str, Any]:
    """The Cedar request (principal, action, resource, context) for ``is_authorized``."""
    if request.action == "read":
        filters: list[str] = ["arrest_id"]
        sort: list[str] = []
    else:
        filters = list(request.filters)
        sort = [k[1:] if k.startswith("-") else k for k in request.sort]
    return {
        "principal": {"type": "Partner", "id": version.document.partner},
        "action": {"type": "Action", "id": request.action},
        "resource": {"type": "Agreement", "id": version.agreement_id},
        "context": {
            "now": int(now.timestamp() // 1),
            "purpose": request.purpose or "",
            "has_case_number": request.case_number is not None,
            "has_justification": request.justification is not None,
            "filters": filters,
            "sort": sort,
            # The record paths those names read (the registry), whatever the agreement says.
            "paths": sorted({FILTERS[n] for n in [*filters, *sort] if n in FILTERS}),
            "requests_in_window": requests_in_window,
        },
    }
