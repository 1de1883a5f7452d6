"""decide(): every clause, its rule id, boundaries to the second, and the bypasses."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pars.agreements.decide import AgreementVersion, Decision, decide, violations
from pars.agreements.document import parse_document
from pars.agreements.request import Request
from pars.errors import InvalidInput
from pars.records.fields import FILTERS

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
EDT = timezone(timedelta(hours=-4))
INSIDE = datetime(2018, 3, 1, 12, 0, tzinfo=EDT)


def ice_raw() -> dict[str, Any]:
    import yaml

    raw: dict[str, Any] = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    return raw


def version(raw: dict[str, Any] | None = None, **kw: Any) -> AgreementVersion:
    doc = parse_document(copy.deepcopy(raw if raw is not None else ice_raw()))
    kw.setdefault("approved", True)
    return AgreementVersion(doc.id, 1, doc.version_hash(), doc, **kw)


def body(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"purpose": "C", "case_number": "CN-1", "justification": "fraud probe"}
    out.update(kw)
    return out


def search(**kw: Any) -> Request:
    return Request.search(body(**kw))


def filter_value(name: str) -> str:
    """A value the filter takes (a date filter's value must parse before decide() sees it)."""
    return "2018-01-01" if name in ("arrested_from", "arrested_to") else "x"


def run(req: Request, at: datetime = INSIDE, v: AgreementVersion | None = None, **kw: Any) -> Decision:
    return decide(v or version(), req, at, **kw)


def test_a_plain_search_is_allowed_with_the_plan() -> None:
    d = run(search(filters={"last_name": "Doe"}, sort=["-arrested_at"]))
    assert d.allowed
    assert d.decision == "allow"
    assert d.rule == "allow"
    assert d.plan is not None
    assert "person.last_name" in d.plan.shown
    assert dict(d.plan.masked) == {"person.ssn": "last4"}
    assert "person.country_of_origin" in d.plan.withheld
    assert d.plan.roles == frozenset({"arrestee"})
    assert d.plan.scope.grades == frozenset({"F1", "F2", "F3", "F"})
    assert str(d.plan.scope.since) == "2017-01-01"
    assert d.agreement_id == "ice-2017"
    assert len(d.agreement_version) == 64


# --- term, to the second -------------------------------------------------------------

START = datetime(2017, 9, 1, 0, 0, 0, tzinfo=EDT)
END = datetime(2018, 8, 31, 23, 59, 59, tzinfo=EDT)


@pytest.mark.parametrize(
    ("at", "rule"),
    [
        (START - timedelta(seconds=1), "term.start"),
        (START - timedelta(microseconds=1), "term.start"),
        (START, "allow"),
        (END, "allow"),
        (END + timedelta(microseconds=999_999), "allow"),  # still the last second
        (END + timedelta(seconds=1), "term.end"),
        (END.astimezone(UTC) + timedelta(seconds=1), "term.end"),  # any offset, same instant
        (END.astimezone(UTC), "allow"),
    ],
)
def test_term_is_enforced_to_the_second(at: datetime, rule: str) -> None:
    assert run(search(), at).rule == rule
    assert run(Request.read("A-1", body()), at).rule == rule
    assert run(Request.feed({"purpose": "C"}), at, version(feed_raw())).rule == rule


def feed_raw() -> dict[str, Any]:
    raw = ice_raw()
    raw["feed"] = {"enabled": True, "grades": ["F1", "M1"]}
    return raw


def test_termination_moves_the_end_to_the_second() -> None:
    cut = datetime(2018, 3, 1, 12, 0, 0, tzinfo=EDT)
    v = version(terminated_at=cut)
    assert run(search(), cut, v).allowed
    d = run(search(), cut + timedelta(seconds=1), v)
    assert d.rule == "term.end"
    assert "terminated" in d.detail
    # A termination after term.end changes nothing.
    late = version(terminated_at=END + timedelta(days=5))
    assert run(search(), END + timedelta(seconds=1), late).rule == "term.end"


def test_unapproved_version_is_denied_by_approvals() -> None:
    assert run(search(), v=version(approved=False)).rule == "approvals"
    # The term is judged first: outside it, the term names the denial.
    assert run(search(), START - timedelta(days=1), version(approved=False)).rule == "term.start"


# --- purposes and requirements ----------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "rule"),
    [
        ("C", "allow"),
        ("C ", "allow"),
        ("J", "purposes"),
        ("c", "purposes"),
        ("CJ", "purposes"),
        ("X", "purposes"),
    ],
)
def test_purpose_must_be_listed_exactly(purpose: str, rule: str) -> None:
    """Only surrounding blanks are forgiven (the request trims text); case and extra letters are not."""
    assert run(search(purpose=purpose)).rule == rule


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_case_number_and_justification_are_required(missing: str | None) -> None:
    assert run(search(case_number=missing)).rule == "search.require.case_number"
    assert run(search(justification=missing)).rule == "search.require.justification"
    read = Request.read("A-1", body(case_number=missing))
    assert run(read).rule == "search.require.case_number"


def test_requirements_absent_from_the_agreement_are_not_required() -> None:
    raw = ice_raw()
    raw["search"]["require"] = []
    assert run(search(case_number=None, justification=None), v=version(raw)).allowed


def test_rate_limit_counted_outside_is_enforced() -> None:
    assert run(search(), requests_in_window=499).allowed
    d = run(search(), requests_in_window=500)
    assert (d.rule, d.status) == ("search.rate_limit", 429)
    raw = ice_raw()
    del raw["search"]["rate_limit"]
    assert run(search(), v=version(raw), requests_in_window=10**9).allowed


def test_max_results_clamps_the_limit() -> None:
    assert run(search(limit=500)).limit == 25
    assert run(search(limit=10)).limit == 10
    assert run(search()).limit == 25
    raw = ice_raw()
    del raw["search"]["max_results"]
    assert run(search(limit=7), v=version(raw)).limit == 7
    assert run(search(), v=version(raw)).limit is None


# --- filter inference -----------------------------------------------------------------


def test_forbidden_filter_is_denied_by_name() -> None:
    d = run(search(filters={"country_of_origin": "MX"}))
    assert not d.allowed
    assert d.rule == "search.forbid_filters.country_of_origin"
    assert run(search(sort=["country_of_origin"])).rule == "search.forbid_filters.country_of_origin"
    assert run(search(sort=["-country_of_origin"])).rule == "search.forbid_filters.country_of_origin"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ssn", "fields.hidden_filter.person.ssn"),  # masked: visible only masked
        ("race", "fields.hidden_filter.person.race"),  # withheld
        ("address", "fields.hidden_filter.person.address"),
        ("decision", "fields.hidden_filter.charging.decision"),
        ("facility", "fields.hidden_filter.custody.facility"),
    ],
)
def test_filter_or_sort_on_a_field_not_visible_unmasked_is_denied(name: str, rule: str) -> None:
    assert run(search(filters={name: "x"})).rule == rule
    assert run(search(sort=[name])).rule == rule
    assert run(search(sort=[f"-{name}"])).rule == rule
    # Hidden among allowed ones, in any position.
    assert run(search(filters={"last_name": "Doe", name: "x"}, sort=["district"])).rule == rule


@pytest.mark.parametrize(
    "name",
    [
        "SSN",
        "Ssn",
        "person.ssn",
        "ssn ",
        " ssn",
        "person.*",
        "*",
        "ssn*",
        "s.s.n",
        "country-of-origin",
        "countryOfOrigin",
        "COUNTRY_OF_ORIGIN",
        "person.country_of_origin",
        "parties.person.ssn",
        "victim.last_name",
        "ｓｓｎ",
        "ssn\x00",
    ],
)
def test_alternate_spellings_and_wildcards_are_unknown_names_and_denied(name: str) -> None:
    d = run(search(filters={name: "x"}))
    assert not d.allowed
    assert d.rule.startswith("filters.unknown.")
    d = run(search(sort=[name or "-"]))
    assert not d.allowed
    assert d.rule.startswith("sort.unknown.")


def test_an_empty_filter_name_is_malformed_before_any_decision() -> None:
    with pytest.raises(InvalidInput, match="filter name"):
        search(filters={"": "x"})


def test_double_minus_and_plus_sort_keys_are_unknown() -> None:
    assert run(search(sort=["--ssn"])).rule == "sort.unknown.-ssn"
    assert run(search(sort=["+ssn"])).rule == "sort.unknown.+ssn"
    assert run(search(sort=["-arrested_at", "arrest_id"])).allowed


def test_alias_of_a_forbidden_filter_is_forbidden() -> None:
    raw = ice_raw()
    raw["search"]["forbid_filters"] = ["arrested_at"]
    v = version(raw)
    assert run(search(filters={"arrested_from": "2018-01-01"}), v=v).rule == (
        "search.forbid_filters.arrested_at"
    )
    assert run(search(sort=["arrested_at"]), v=v).rule == "search.forbid_filters.arrested_at"


#: ice-2017.yaml by hand: allow arrest_id, person_id, person.{last_name, first_name, dob,
#: sex}, arrest.*, charges.*, arraignment.*; ssn masked; country_of_origin forbidden;
#: custody behind a warrant. Of those, the store searches (pars.records.fields) these:
ICE_FILTERABLE = {
    "arrest_id", "person_id", "last_name", "first_name", "dob", "sex", "agency", "district",
    "arrest_type", "arrested_from", "arrested_to", "statute", "grade", "disposition",
}  # fmt: skip
ICE_SORTABLE = {"arrest_id", "person_id", "last_name", "dob", "district", "arrested_at"}


def test_every_filter_name_is_allowed_iff_its_field_is_shown_unmasked() -> None:
    v = version()
    for name in FILTERS:
        d = decide(v, search(filters={name: filter_value(name)}), INSIDE)
        assert d.allowed is (name in ICE_FILTERABLE), (name, d.rule)
        s = decide(v, search(sort=[name]), INSIDE)
        assert s.allowed is (name in ICE_SORTABLE), (name, s.rule)
    rules = {n: decide(v, search(filters={n: filter_value(n)}), INSIDE).rule for n in FILTERS}
    assert rules["country_of_origin"] == "search.forbid_filters.country_of_origin"
    assert rules["ssn"] == "fields.hidden_filter.person.ssn"  # masked
    assert rules["race"] == "fields.hidden_filter.person.race"  # withheld
    assert rules["decision"] == "fields.hidden_filter.charging.decision"
    assert rules["facility"] == "fields.hidden_filter.custody.facility"  # custody is not in fields.allow
    assert rules["bail_amount"] == "filters.unsearchable.bail_amount"  # allowed, but no store serves it
    assert rules["location"] == "filters.unsearchable.location"


def test_warrant_gated_fields_cannot_be_filtered_even_with_a_warrant() -> None:
    raw = ice_raw()
    raw["fields"]["allow"].append("custody.*")
    v = version(raw)
    for req in (search(filters={"facility": "CFCF"}), search(filters={"facility": "x"}, warrant="W-1")):
        assert run(req, v=v).rule == "warrant_required.custody"
    assert run(search(sort=["-released_at"], warrant="W-1"), v=v).rule == "warrant_required.custody"


def test_hidden_field_in_group_withheld_for_role_is_not_filterable() -> None:
    raw = ice_raw()
    raw["roles"] = ["victim"]  # no arrestee: the arrest's person is withheld
    raw["fields"]["allow"] = ["arrest_id", "person.*", "parties.*"]
    v = version(raw)
    assert run(search(filters={"last_name": "Roe"}), v=v).rule == "fields.hidden_filter.person.last_name"
    plan = run(search(), v=v).plan
    assert plan is not None
    assert not any(p.startswith("person.") for p in plan.shown)
    assert "parties.person.last_name" in plan.shown


def test_read_by_id_when_arrest_id_is_hidden_is_denied() -> None:
    raw = ice_raw()
    raw["fields"]["allow"].remove("arrest_id")
    assert run(Request.read("A-1", body()), v=version(raw)).rule == "fields.hidden_filter.arrest_id"
    assert run(Request.read("A-1", body())).allowed


# --- plan: warrants, roles, feed ---------------------------------------------------------


def test_warrant_groups_appear_only_with_a_valid_warrant() -> None:
    raw = ice_raw()
    raw["fields"]["allow"].append("custody.*")
    d = run(search(warrant="W-1"), v=version(raw))
    assert d.plan is not None
    assert d.warrant == "W-1"
    assert d.plan.warrant_groups == frozenset({"custody"})
    shown, _ = d.plan.for_record(warrant_valid=False)
    assert "custody.facility" not in shown
    shown, _ = d.plan.for_record(warrant_valid=True)
    assert {"custody.facility", "custody.released_at"} <= shown


def test_victims_and_witnesses_only_if_roles_list_them() -> None:
    raw = ice_raw()
    raw["fields"]["allow"].append("parties.*")
    plan = run(search(), v=version(raw)).plan
    assert plan is not None
    assert not any(p.startswith("parties.") for p in plan.shown)
    raw["roles"] = ["arrestee", "witness"]
    plan = run(search(), v=version(raw)).plan
    assert plan is not None
    assert "parties.person.last_name" in plan.shown
    assert plan.roles == frozenset({"arrestee", "witness"})


def test_feed_needs_it_enabled_and_narrows_the_scope() -> None:
    assert run(Request.feed({"purpose": "C"})).rule == "feed.enabled"
    v = version(feed_raw())
    d = run(Request.feed({"purpose": "C"}), v=v)
    assert d.allowed
    assert d.plan is not None
    assert d.plan.scope.grades == frozenset({"F1"})  # feed grades within the scope's
    assert run(Request.feed({"purpose": "J"}), v=v).rule == "purposes"
    # No case number is needed for a feed, and no warrant can be honoured.
    assert d.plan.warrant_groups == frozenset()


# --- requests: strict validation names the field ------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"case_number": "x"}, "purpose"),
        ({"purpose": "  "}, "purpose"),
        ({"purpose": 3}, "purpose"),
        ({"purpose": "C", "limit": 0}, "limit"),
        ({"purpose": "C", "limit": "5"}, "limit"),
        ({"purpose": "C", "limit": True}, "limit"),
        ({"purpose": "C", "filters": []}, "filters"),
        ({"purpose": "C", "filters": {"last_name": {"$ne": 1}}}, "filters.last_name"),
        ({"purpose": "C", "sort": "last_name"}, "sort"),
        ({"purpose": "C", "sort": [""]}, "sort[0]"),
        ({"purpose": "C", "fields": ["person.ssn"]}, "fields"),
        ({"purpose": "C", "action": "search"}, "action"),
        ({"purpose": "C", "arrest_id": "A-1"}, "arrest_id"),
    ],
)
def test_malformed_search_bodies_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Request.search(data)
    assert str(err.value).startswith(f"{field}:"), str(err.value)


def test_read_and_feed_shapes() -> None:
    with pytest.raises(InvalidInput, match=r"^arrest_id:"):
        Request.read("  ", {"purpose": "C"})
    with pytest.raises(InvalidInput, match=r"^filters:"):
        Request.parse({"action": "read", "arrest_id": "A", "purpose": "C", "filters": {"a": 1}})
    with pytest.raises(InvalidInput, match=r"^action:"):
        Request.parse({"action": "delete", "purpose": "C"})
    assert Request.read("A-1", {"purpose": "C"}).filter_names() == ("arrest_id",)


def test_decide_is_pure_and_repeatable() -> None:
    """decide() reads no clock of its own and changes nothing it is given."""
    v, req = version(), search(filters={"last_name": "Doe"})
    before = (copy.deepcopy(v.document.model_dump()), copy.deepcopy(req))
    first = decide(v, req, INSIDE)
    assert first.allowed and decide(v, req, INSIDE) == first
    # The answer follows the `now` it is given, not the machine's: after the term it is a denial.
    assert decide(v, req, END + timedelta(seconds=1)).rule == "term.end"
    assert decide(v, req, START).rule == "allow"
    assert (v.document.model_dump(), req) == before


# --- every violation, not only the first -------------------------------------------


def test_a_denial_lists_every_violation_and_names_the_first() -> None:
    # A misspelt filter first and a forbidden one after it: the misspelling decides (request
    # order, as before) and the forbidden filter is still listed (CONTRACT 6).
    d = run(search(filters={"lname": "x", "country_of_origin": "MX"}))
    assert d.rule == "filters.unknown.lname"
    assert d.violations == ("filters.unknown", "search.forbid_filters.country_of_origin")
    late = run(search(case_number=None, filters={"ssn": "1", "country_of_origin": "MX"}), END + timedelta(1))
    assert late.rule == "term.end"
    assert late.violations == (
        "term.end",
        "search.require.case_number",
        "fields.hidden_filter.person.ssn",
        "search.forbid_filters.country_of_origin",
    )
    # The same forbidden name as a filter and a sort key is one violation.
    twice = run(search(filters={"country_of_origin": "MX"}, sort=["-country_of_origin", "nope"]))
    assert twice.violations == ("search.forbid_filters.country_of_origin", "sort.unknown")


def test_an_allow_has_no_violations_and_each_single_denial_lists_its_rule() -> None:
    assert run(search(filters={"last_name": "Doe"})).violations == ()
    assert run(search(purpose="X")).violations == ("purposes",)
    assert run(search(), v=version(approved=False)).violations == ("approvals",)
    assert run(search(), START - timedelta(seconds=1)).violations == ("term.start",)
    over = run(search(), requests_in_window=10**6)
    assert over.rule == "search.rate_limit" and over.violations == ("search.rate_limit",)
    feed = run(Request.feed({"purpose": "J"}), START - timedelta(seconds=1))
    assert feed.violations == ("term.start", "feed.enabled", "purposes")


def test_violations_agree_with_the_deciding_clause_at_every_boundary() -> None:
    """violations() is worked out apart from the deciding path: it must draw the same
    lines (term to the second, the rate limit's count, sort directions)."""
    wrong = {"purpose": "X"}
    assert run(search(**wrong), START).violations == ("purposes",)  # the first second is served
    assert run(search(**wrong), END + timedelta(microseconds=999_999)).violations == ("purposes",)
    assert run(search(**wrong), END + timedelta(seconds=1)).violations == ("term.end", "purposes")
    assert run(search(**wrong), requests_in_window=499).violations == ("purposes",)
    assert run(search(**wrong), requests_in_window=500).violations == ("purposes", "search.rate_limit")
    assert run(search(justification=None, **wrong)).violations == ("purposes", "search.require.justification")
    # Allowed names add nothing; a sort key's direction is not part of its name.
    allowed = search(filters={"last_name": "Doe"}, sort=["-arrested_at", "district"], **wrong)
    assert run(allowed).violations == ("purposes",)
    for key in ("race", "-race"):
        assert run(search(sort=[key], **wrong)).violations == ("purposes", "fields.hidden_filter.person.race")
    # A read filters by arrest_id.
    raw = ice_raw()
    raw["fields"]["allow"].remove("arrest_id")
    read = Request.read("A-1", body(purpose="X"))
    assert run(read, v=version(raw)).violations == ("purposes", "fields.hidden_filter.arrest_id")
    assert run(read).violations == ("purposes",)


def test_violations_name_what_the_store_cannot_serve_by_kind() -> None:
    """Allowed by the agreement but not served by the store: listed as its kind, like an
    unknown name (the deciding rule keeps the name)."""
    d = run(search(filters={"bail_amount": "1"}))
    assert (d.rule, d.violations) == ("filters.unsearchable.bail_amount", ("filters.unsearchable",))
    d = run(search(sort=["-agency"]))
    assert (d.rule, d.violations) == ("sort.unsortable.agency", ("sort.unsortable",))
    # arrested_at sorts but does not filter (its ranges do); district does both.
    d = run(search(filters={"arrested_at": "2018-01-01", "district": "24"}, sort=["arrested_at", "district"]))
    assert d.violations == ("filters.unsearchable",)


def test_violations_with_the_default_count_are_under_any_rate_limit() -> None:
    raw = ice_raw()
    raw["search"]["rate_limit"] = {"requests": 1, "per": "day"}
    v = version(raw)
    assert violations(v, search(), INSIDE) == ()
    assert violations(v, search(), INSIDE, requests_in_window=1) == ("search.rate_limit",)


def test_denials_explain_themselves() -> None:
    v = version()
    assert (
        run(search(), START - timedelta(seconds=1)).detail == "the term starts at 2017-09-01T00:00:00-04:00"
    )
    assert (
        run(search(), END + timedelta(seconds=1)).detail
        == "the agreement's term ended at 2018-08-31T23:59:59-04:00"
    )
    # A termination after the term's end is no termination: the term ended.
    late = version(terminated_at=END + timedelta(days=5))
    assert run(search(), END + timedelta(seconds=1), late).detail == (
        "the agreement's term ended at 2018-08-31T23:59:59-04:00"
    )
    at_end = version(terminated_at=END)
    assert run(search(), END + timedelta(seconds=1), at_end).detail.startswith("the agreement's term ended")
    assert run(search(), v=version(approved=False)).detail == (
        "version 1 lacks the approvals its agreement requires (2 of courts, district_attorney, police)"
    )
    assert run(Request.feed({"purpose": "C"}), v=v).detail == "the feed is not enabled"
    raw = ice_raw()
    raw["purposes"] = ["J", "C"]
    assert run(search(purpose="X"), v=version(raw)).detail == "the purpose must be one of C, J"
    assert run(search(case_number=None)).detail == "a case number is required"
    assert run(search(justification=None)).detail == "a justification is required"


def test_an_unknown_name_is_logged_safe_and_bounded() -> None:
    d = run(search(filters={"lname": "x"}))
    assert (d.rule, d.detail) == ("filters.unknown.lname", "'lname' is not a filter or sort name")
    # Characters outside [A-Za-z0-9_.*+-] become '?', and at most 64 are kept.
    assert run(search(filters={"ssn\x00 é": "x"})).rule == "filters.unknown.ssn???"
    assert run(search(sort=["n" * 80])).rule == "sort.unknown." + "n" * 64


def test_what_the_store_cannot_serve_is_explained() -> None:
    assert run(search(filters={"bail_amount": "1"})).detail == "the store cannot search by 'bail_amount'"
    assert run(search(sort=["agency"])).detail == "the store cannot sort by 'agency'"


def test_a_read_allow_carries_its_version_plan_one_record_and_the_warrant() -> None:
    v = version()
    d = run(Request.read("A-1", body(warrant="W-7")), v=v)
    assert d == Decision(
        True, "allow", "ice-2017", v.hash, plan=run(search(), v=v).plan, limit=1, warrant="W-7"
    )


def test_a_feed_allow_carries_its_version_and_the_feed_plan_and_counts_toward_the_limit() -> None:
    raw = feed_raw()
    raw["search"]["rate_limit"] = {"requests": 3, "per": "hour"}
    v = version(raw)
    d = run(Request.feed({"purpose": "C"}), v=v, requests_in_window=2)
    assert (d.allowed, d.agreement_id, d.agreement_version) == (True, "ice-2017", v.hash)
    assert d.plan is not None and d.plan.scope.grades == frozenset({"F1"})
    over = run(Request.feed({"purpose": "C"}), v=v, requests_in_window=3)
    assert (over.rule, over.status, over.violations) == ("search.rate_limit", 429, ("search.rate_limit",))


def test_decide_without_a_count_is_the_first_request_of_the_window() -> None:
    raw = ice_raw()
    raw["search"]["rate_limit"] = {"requests": 1, "per": "day"}
    assert decide(version(raw), search(), INSIDE).allowed


def test_a_denial_names_its_version_status_and_clause_text() -> None:
    v = version()
    d = run(search(filters={"country_of_origin": "MX"}), v=v)
    assert (d.allowed, d.agreement_id, d.agreement_version, d.status) == (False, "ice-2017", v.hash, 403)
    assert d.detail == "filtering or sorting by 'country_of_origin' is not allowed"
    unknown = run(search(filters={"lname": "x"}), v=v)
    assert (unknown.agreement_id, unknown.agreement_version, unknown.status) == ("ice-2017", v.hash, 403)
    over = run(search(), v=v, requests_in_window=500)
    assert (over.status, over.detail) == (429, "over the rate limit of 500 requests per day")
