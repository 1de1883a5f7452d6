"""Field plans: what each document lets a partner see, by search and by feed."""

from __future__ import annotations

from datetime import date
from typing import Any

from pars.agreements.document import parse_document
from pars.agreements.plan import FieldPlan, RecordScope, VersionRules, build_rules
from pars.records.fields import RECORD_FIELDS

PERSON = frozenset(p for p in RECORD_FIELDS if p.startswith("person."))
PARTIES = frozenset(p for p in RECORD_FIELDS if p.startswith("parties."))
CUSTODY = frozenset({"custody.released_at", "custody.facility"})


def rules(**doc: Any) -> VersionRules:
    raw: dict[str, Any] = {
        "id": "plan-test",
        "partner": "P",
        "term": {"start": "2018-01-01T00:00:00-05:00", "end": "2018-12-31T23:59:59-05:00"},
        "purposes": ["C"],
        "fields": {"allow": ["*"]},
    }
    raw.update(doc)
    return build_rules(parse_document(raw))


def test_everything_allowed_is_shown_to_arrestee_only_partners_except_parties() -> None:
    plan = rules().search_plan
    assert plan.shown == frozenset(RECORD_FIELDS) - PARTIES
    assert plan.withheld == PARTIES
    assert plan.scope == RecordScope(grades=None, since=None)
    assert plan.roles == frozenset({"arrestee"})


def test_without_the_arrestee_role_no_arrestee_field_or_id_is_visible() -> None:
    plan = rules(roles=["victim"], fields={"allow": ["*"], "mask": {"person.ssn": "last4"}}).search_plan
    assert plan.shown == frozenset(RECORD_FIELDS) - PERSON - {"person_id"}
    assert dict(plan.masked) == {}
    assert plan.withheld == PERSON | {"person_id"}


def test_without_any_role_no_person_of_any_kind_is_visible() -> None:
    plan = rules(roles=[]).search_plan
    assert plan.shown == frozenset(RECORD_FIELDS) - PERSON - PARTIES - {"person_id"}
    assert plan.roles == frozenset()


def test_warrant_groups_split_into_their_own_shown_and_masked_paths() -> None:
    plan = rules(
        fields={"allow": ["*"], "mask": {"custody.released_at": "year", "person.ssn": "last4"}},
        warrant_required=["custody", "charging"],
    ).search_plan
    hidden = PARTIES | CUSTODY | {"charging.decision", "charging.at", "person.ssn"}
    assert plan.shown == frozenset(RECORD_FIELDS) - hidden
    assert dict(plan.masked) == {"person.ssn": "last4"}
    assert plan.warrant_groups == frozenset({"custody", "charging"})
    assert plan.warrant_shown == frozenset({"custody.facility", "charging.decision", "charging.at"})
    assert dict(plan.warrant_masked) == {"custody.released_at": "year"}
    shown, masked = plan.for_record(warrant_valid=True)
    assert shown == plan.shown | plan.warrant_shown
    assert dict(masked) == {"person.ssn": "last4", "custody.released_at": "year"}
    assert plan.for_record(warrant_valid=False) == (plan.shown, plan.masked)


def test_a_warrant_group_with_nothing_visible_is_no_warrant_group() -> None:
    plan = rules(fields={"allow": ["arrest_id", "person.*"]}, warrant_required=["custody"]).search_plan
    assert plan.warrant_groups == frozenset()
    assert plan.warrant_shown == frozenset()
    assert dict(plan.warrant_masked) == {}
    # Nothing to add: a valid warrant changes nothing.
    assert plan.for_record(warrant_valid=True) == (plan.shown, plan.masked)


def test_the_feed_shows_what_search_shows_without_warrants_within_the_scope() -> None:
    r = rules(
        roles=["arrestee", "witness"],
        scope={"grades": ["F1", "F2", "M1"], "since": "2017-01-01"},
        fields={"allow": ["*"], "mask": {"person.ssn": "hash", "custody.released_at": "year"}},
        warrant_required=["custody"],
        feed={"enabled": True},
    )
    search, feed = r.search_plan, r.feed_plan
    assert search.scope == RecordScope(grades=frozenset({"F1", "F2", "M1"}), since=date(2017, 1, 1))
    assert feed == FieldPlan(
        shown=search.shown,
        masked=search.masked,
        roles=frozenset({"arrestee", "witness"}),
        scope=RecordScope(grades=frozenset({"F1", "F2", "M1"}), since=date(2017, 1, 1)),
    )
    assert dict(feed.masked) == {"person.ssn": "hash"}
    assert feed.warrant_groups == frozenset() and feed.warrant_shown == frozenset()
    assert feed.for_record(warrant_valid=True) == (search.shown, search.masked)


def test_feed_grades_narrow_the_scope_never_widen_it() -> None:
    narrowed = rules(scope={"grades": ["F1", "F2"]}, feed={"enabled": True, "grades": ["F2", "F3"]})
    assert narrowed.feed_plan.scope.grades == frozenset({"F2"})
    assert narrowed.search_plan.scope.grades == frozenset({"F1", "F2"})
    own = rules(feed={"enabled": True, "grades": ["F2", "F3"]})
    assert own.feed_plan.scope.grades == frozenset({"F2", "F3"})
    assert own.search_plan.scope.grades is None
