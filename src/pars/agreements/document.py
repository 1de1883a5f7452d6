"""Sharing-agreement documents (CONTRACT section 3): parse, validate, normalize, hash.

A document is YAML or JSON. It is validated into an ``AgreementDocument`` whose
errors name the bad key (``search.forbid_filters[1]: unknown filter 'contry'``),
then normalized (defaults filled in, sets sorted, times as ISO 8601 with their
offset) and hashed: the version hash is SHA-256 of the RFC 8785 canonical JSON of
the normalized document, so key order and YAML-vs-JSON never change it.

Rule: the hash covers exactly ``normalized(doc)``; anything that changes what an
agreement allows must change that dict, or two different agreements would share
one version id.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

import rfc8785
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_serializer,
)

from pars.clock import parse_instant
from pars.errors import InvalidInput
from pars.records.fields import FILTERS, GROUPS, RECORD_FIELDS, UnknownField, expand

GRADES = ("F1", "F2", "F3", "F", "M1", "M2", "M3", "M", "S")
ROLES = ("arrestee", "victim", "witness")
MASKS = ("last4", "year", "hash")

Grade = Literal["F1", "F2", "F3", "F", "M1", "M2", "M3", "M", "S"]
Approver = Literal["courts", "police", "district_attorney"]
APPROVERS: tuple[Approver, ...] = ("courts", "police", "district_attorney")
Role = Literal["arrestee", "victim", "witness"]
MaskKind = Literal["last4", "year", "hash"]
Period = Literal["second", "minute", "hour", "day"]
Requirement = Literal["case_number", "justification"]

#: Which masks make sense on which fields (validated, so a plan never has to guess).
LAST4_FIELDS = frozenset({"person.ssn", "parties.person.ssn"})
YEAR_FIELDS = frozenset(
    {
        "person.dob",
        "parties.person.dob",
        "arrest.arrested_at",
        "charging.at",
        "arraignment.held_at",
        "custody.released_at",
    }
)


def _instant(value: object) -> datetime:
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ValueError("not an ISO 8601 time with an offset")
    return parse_instant(value)


def _day(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("not an ISO 8601 date (YYYY-MM-DD)")


def _field_pattern(value: str) -> str:
    try:
        expand(value)
    except UnknownField:
        raise ValueError(f"not a record field {value!r}") from None
    return value


def _field_path(value: str) -> str:
    if value not in RECORD_FIELDS:
        raise ValueError(f"not a record field {value!r}")
    return value


def _filter_name(value: str) -> str:
    if value not in FILTERS:
        raise ValueError(f"unknown filter {value!r}")
    return value


def _group_name(value: str) -> str:
    if value == "" or value not in GROUPS:
        raise ValueError(f"not a field group {value!r} (one of {', '.join(g for g in GROUPS if g)})")
    return value


def _sorted_set(value: list[Any]) -> list[Any]:
    return sorted(set(value))


Instant = Annotated[datetime, BeforeValidator(_instant)]
Day = Annotated[date, BeforeValidator(_day)]
FieldPattern = Annotated[StrictStr, AfterValidator(_field_pattern)]
FieldPath = Annotated[StrictStr, AfterValidator(_field_path)]
FilterName = Annotated[StrictStr, AfterValidator(_filter_name)]
GroupName = Annotated[StrictStr, AfterValidator(_group_name)]
Code = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Term(_Part):
    start: Instant
    end: Instant

    @field_serializer("start", "end")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()


class RateLimit(_Part):
    requests: StrictInt = Field(ge=1)
    per: Period


class SearchRules(_Part):
    require: Annotated[list[Requirement], AfterValidator(_sorted_set)] = []
    forbid_filters: Annotated[list[FilterName], AfterValidator(_sorted_set)] = []
    max_results: StrictInt | None = Field(default=None, ge=1)
    rate_limit: RateLimit | None = None


class ScopeRules(_Part):
    grades: Annotated[list[Grade], AfterValidator(_sorted_set)] | None = None
    since: Day | None = None


class FeedRules(_Part):
    enabled: StrictBool = False
    grades: Annotated[list[Grade], AfterValidator(_sorted_set)] | None = None


class FieldRules(_Part):
    allow: Annotated[list[FieldPattern], AfterValidator(_sorted_set)] = []
    mask: dict[FieldPath, MaskKind] = {}


class ApprovalRules(_Part):
    required: StrictInt = Field(default=2, ge=1)
    of: Annotated[list[Approver], AfterValidator(_sorted_set), Field(min_length=1)] = sorted(APPROVERS)


class AgreementDocument(BaseModel):
    """One agreement version's text, validated; a key CONTRACT section 3 does not name is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[StrictStr, Field(pattern=r"^[a-z0-9-]{1,64}$")]
    partner: Code
    title: StrictStr = ""
    term: Term
    purposes: Annotated[list[Code], AfterValidator(_sorted_set), Field(min_length=1)]
    roles: Annotated[list[Role], AfterValidator(_sorted_set)] = ["arrestee"]
    scope: ScopeRules = ScopeRules()
    fields: FieldRules
    search: SearchRules = SearchRules()
    feed: FeedRules = FeedRules()
    warrant_required: Annotated[list[GroupName], AfterValidator(_sorted_set)] = []
    approvals: ApprovalRules = ApprovalRules()

    def normalized(self) -> dict[str, Any]:
        """The document as hashed and stored: defaults filled, sets sorted, no nulls."""
        return self.model_dump(mode="json", exclude_none=True)

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON of ``normalized()``."""
        try:
            return bytes(rfc8785.dumps(self.normalized()))
        except (rfc8785.CanonicalizationError, ValueError) as exc:
            raise InvalidInput(f"document: cannot be canonicalized ({exc})") from None

    def version_hash(self) -> str:
        """The version id: lowercase hex SHA-256 of the canonical form."""
        return hashlib.sha256(self.canonical()).hexdigest()


class StoredAgreementDocument(AgreementDocument):
    """A version as stored: versions applied before unknown keys were refused may carry
    extra top-level keys (``notes``, ``fee``); they stay readable, and their hash covers them."""

    model_config = ConfigDict(extra="allow", frozen=True)


#: The keys each level of a document may have, by dotted path ("" is the top level).
LEVELS: dict[str, tuple[str, ...]] = {
    path: tuple(model.model_fields)
    for path, model in (
        ("", AgreementDocument),
        ("term", Term),
        ("scope", ScopeRules),
        ("fields", FieldRules),
        ("search", SearchRules),
        ("search.rate_limit", RateLimit),
        ("feed", FeedRules),
        ("approvals", ApprovalRules),
    )
}


def _unknown_key(location: str) -> str:
    """``unknown key`` with a hint: a near-miss spelling at its level, or the level where it belongs."""
    parent, _, key = location.rpartition(".")
    known = LEVELS.get(parent, ())
    near = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.75)
    if near:
        return f"unknown key; did you mean {near[0]!r}?"
    homes = [f"{path}.{key}" if path else key for path, keys in LEVELS.items() if key in keys]
    if homes:
        return f"unknown key here; did you mean {homes[0]!r}?"
    return "unknown key"


def _plain(value: Any) -> Any:
    """YAML dates and times -> ISO strings, so the extras are JSON like the rest."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k) if isinstance(k, date) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that rejects a key written twice (the last would silently win)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise InvalidInput(f"{key}: key appears twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidInput(f"{key}: key appears twice")
        out[key] = value
    return out


def load_text(text: str) -> Any:
    """YAML or JSON text -> plain data (JSON first, since it is the stricter reading)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InvalidInput(f"document: neither JSON nor YAML ({exc})") from None


_TYPE_TAG = re.compile(r"^([a-z-]+\[.*\]|str|int|float|bool|none|function-[a-z-]+)$")


def error_location(loc: tuple[int | str, ...]) -> str:
    """``('search', 'forbid_filters', 1)`` -> ``search.forbid_filters[1]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]" or _TYPE_TAG.match(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(exc: ValidationError) -> str:
    """A Pydantic error as ``key: problem; key: problem``, the key first."""
    parts: list[str] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        loc = error_location(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            msg = _unknown_key(loc)
        elif err["type"] == "missing":
            msg = "required"
        if loc in seen:  # one message per key (a union reports once per branch)
            continue
        seen.add(loc)
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _semantic_problems(doc: AgreementDocument) -> list[str]:
    problems: list[str] = []
    if doc.term.end <= doc.term.start:
        problems.append("term.end: must be after term.start")
    for path, kind in doc.fields.mask.items():
        if kind == "last4" and path not in LAST4_FIELDS:
            problems.append(f"fields.mask.{path}: mask 'last4' applies to ssn fields only")
        if kind == "year" and path not in YEAR_FIELDS:
            problems.append(f"fields.mask.{path}: mask 'year' applies to dates and times only")
    if doc.approvals.required > len(doc.approvals.of):
        problems.append(
            f"approvals.required: {doc.approvals.required} approvals cannot come from "
            f"{len(doc.approvals.of)} approver(s)"
        )
    return problems


def parse_document(data: str | dict[str, Any]) -> AgreementDocument:
    """Validate a document (text or already-loaded mapping); raises ``InvalidInput``."""
    raw = load_text(data) if isinstance(data, str) else data
    if not isinstance(raw, dict):
        raise InvalidInput("document: must be a mapping of keys (YAML or a JSON object)")
    raw = _plain(raw)
    try:
        doc = AgreementDocument.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from None
    problems = _semantic_problems(doc)
    if problems:
        raise InvalidInput("; ".join(problems))
    doc.canonical()  # fail now, not at apply time, on values RFC 8785 refuses
    return doc


def document_from_canonical(text: str) -> AgreementDocument:
    """A stored version's document (already validated when it was applied, under the rules of then)."""
    return StoredAgreementDocument.model_validate(json.loads(text))
