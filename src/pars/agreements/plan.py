"""Field plans: which record paths a partner sees, masked or not, under one version.

A plan is computed once per agreement version from its document and shared by
every decision under it. It says what is shown unmasked, what is shown masked
(and how), which field groups need a warrant on file, which party roles appear,
and the record scope the query must apply.

Rule: a path is filterable only if it is shown unmasked to *every* record the
partner can reach, i.e. in ``shown`` (warrant-gated paths never qualify, since a
warrant covers one arrest, not a search).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from pars.agreements.document import AgreementDocument
from pars.records.fields import FILTERS, RECORD_FIELDS, expand_all, group_of

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RecordScope:
    """Arrests the partner may know exist: charge grades and earliest arrest date.

    ``None`` means no restriction on that axis. The gate applies it in the query;
    a record outside answers exactly like one that does not exist (rule ``scope``).
    """

    grades: frozenset[str] | None = None
    since: date | None = None


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """What a partner sees of each record. Paths are CONTRACT section 2 dotted paths."""

    #: Shown unmasked on every record.
    shown: frozenset[str]
    #: Shown masked on every record: path -> ``last4`` | ``year`` | ``hash``.
    masked: Mapping[str, str]
    #: Field groups shown only on records whose arrest has the cited warrant on file.
    warrant_groups: frozenset[str] = frozenset()
    #: Extra paths shown (unmasked / masked) on a record with a valid warrant.
    warrant_shown: frozenset[str] = frozenset()
    warrant_masked: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: Party roles visible (``arrestee`` for the arrest's person; victims/witnesses in parties).
    roles: frozenset[str] = frozenset({"arrestee"})
    scope: RecordScope = RecordScope()

    @property
    def withheld(self) -> frozenset[str]:
        """Paths never shown, warrant or not."""
        return (
            frozenset(RECORD_FIELDS)
            - self.shown
            - set(self.masked)
            - self.warrant_shown
            - set(self.warrant_masked)
        )

    def for_record(self, warrant_valid: bool) -> tuple[frozenset[str], Mapping[str, str]]:
        """(shown, masked) for one record, given whether its arrest has the cited warrant."""
        if not warrant_valid or not self.warrant_groups:
            return self.shown, self.masked
        return self.shown | self.warrant_shown, MappingProxyType({**self.masked, **self.warrant_masked})


@dataclass(frozen=True, slots=True)
class VersionRules:
    """Everything decide() needs from a document, computed once per version."""

    search_plan: FieldPlan
    feed_plan: FieldPlan
    #: filter (and sort) name -> the rule that denies it; absent means allowed.
    filter_denials: Mapping[str, str]


def _visible_paths(doc: AgreementDocument) -> tuple[frozenset[str], dict[str, str]]:
    allowed = set(expand_all(doc.fields.allow))
    masked: dict[str, str] = dict(doc.fields.mask)
    hidden: set[str] = set()
    if "arrestee" not in doc.roles:
        hidden |= {"person_id"} | {p for p in RECORD_FIELDS if group_of(p) == "person"}
    if not ({"victim", "witness"} & set(doc.roles)):
        hidden |= {p for p in RECORD_FIELDS if group_of(p) == "parties"}
    allowed -= hidden
    masked = {p: m for p, m in masked.items() if p not in hidden}
    return frozenset(allowed - set(masked)), masked


def build_rules(doc: AgreementDocument) -> VersionRules:
    """The plans and the filter table of one document."""
    unmasked, masked = _visible_paths(doc)
    gated = frozenset(doc.warrant_required)
    in_gated = {p for p in RECORD_FIELDS if group_of(p) in gated}
    shown = unmasked - in_gated
    scope = RecordScope(
        grades=frozenset(doc.scope.grades) if doc.scope.grades is not None else None,
        since=doc.scope.since,
    )
    search_plan = FieldPlan(
        shown=shown,
        masked=MappingProxyType({p: m for p, m in masked.items() if p not in in_gated}),
        warrant_groups=frozenset(g for g in gated if any(group_of(p) == g for p in unmasked | set(masked))),
        warrant_shown=frozenset(unmasked & in_gated),
        warrant_masked=MappingProxyType({p: m for p, m in masked.items() if p in in_gated}),
        roles=frozenset(doc.roles),
        scope=scope,
    )
    feed_grades = scope.grades
    if doc.feed.grades is not None:
        feed_grades = frozenset(doc.feed.grades)
        if scope.grades is not None:
            feed_grades &= scope.grades
    feed_plan = FieldPlan(
        shown=search_plan.shown,
        masked=search_plan.masked,
        # The feed pushes to no one in particular: no warrant can be cited.
        roles=search_plan.roles,
        scope=RecordScope(grades=feed_grades, since=scope.since),
    )
    forbidden_paths: dict[str, str] = {}
    for name in doc.search.forbid_filters:  # sorted: the first listed name names the clause
        forbidden_paths.setdefault(FILTERS[name], name)
    denials: dict[str, str] = {}
    for name, path in FILTERS.items():
        if name in doc.search.forbid_filters:
            denials[name] = f"search.forbid_filters.{name}"
        elif path in forbidden_paths:
            # An alias of a forbidden filter (arrested_from for arrested_at) is forbidden too.
            denials[name] = f"search.forbid_filters.{forbidden_paths[path]}"
        elif path in in_gated and (path in unmasked or path in masked):
            # Visible on a warranted record, but a search spans records without one.
            denials[name] = f"warrant_required.{group_of(path)}"
        elif path not in shown:
            denials[name] = f"fields.hidden_filter.{path}"
    return VersionRules(search_plan, feed_plan, MappingProxyType(denials))
