"""Booking events (CONTRACT section 1): validation and canonical form. Pure.

``parse_event`` turns one JSON line into either a ``ParsedEvent`` (the validated
event, its canonical JSON and that JSON's SHA-256) or a ``Rejection`` whose reason
names the field first: ``arrest.arrested_at: not an ISO 8601 time with an offset``.

Rule: unknown keys are rejected, never dropped. In particular there is no
immigration-status field and none may be smuggled in.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from pars.clock import check_day, check_instant
from pars.records.countries import ISO_3166_ALPHA2
from pars.records.normalize import ssn_key

EVENT_TYPES = ("arrest", "charging", "arraignment", "disposition", "release", "expungement")
GRADES = ("F1", "F2", "F3", "F", "M1", "M2", "M3", "M", "S")
DISPOSITIONS = ("withdrawn", "dismissed", "held_for_court", "guilty", "not_guilty")
BAIL_TYPES = ("ROR", "unsecured", "monetary", "nonmonetary", "denied")

MAX_LINE_BYTES = 1_000_000


def _country(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (two capital letters)")
    return code


def _ssn(text: str) -> str:
    key = ssn_key(text)
    if key is None:
        raise ValueError("not an SSN (###-##-#### or 9 digits)")
    return key


# Parsed in Rust, strictly: an RFC 3339 string with an offset, nothing else, in the
# window every instant PARS takes must lie in (so no UTC conversion can overflow).
Instant = Annotated[AwareDatetime, Strict(), AfterValidator(check_instant)]
Day = Annotated[date, AfterValidator(check_day)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    last_name: Name
    first_name: Name
    dob: Day | None = None
    sex: Literal["M", "F", "X", "U"] | None = None
    race: Literal["W", "B", "A", "I", "P", "U"] | None = None
    ssn: Annotated[str, AfterValidator(_ssn)] | None = None
    country_of_origin: Annotated[str, AfterValidator(_country)] | None = None
    address: Text | None = None


class Party(_Strict):
    role: Literal["arrestee", "victim", "witness"]
    person: Person


class Charge(_Strict):
    seq: int = Field(ge=1, le=999)
    statute: Text
    description: Text | None = None
    grade: Literal[GRADES] | None = None  # type: ignore[valid-type]


def _unique_seqs(charges: list[Charge]) -> list[Charge]:
    seen: set[int] = set()
    for c in charges:
        if c.seq in seen:
            raise ValueError(f"charge seq {c.seq} appears twice")
        seen.add(c.seq)
    return charges


ChargeList = Annotated[list[Charge], Field(min_length=1, max_length=99), AfterValidator(_unique_seqs)]


class ArrestFacts(_Strict):
    arrest_id: Identifier
    agency: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]
    district: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,8}$")]
    arrested_at: Instant
    arrest_type: Literal["O", "S", "T"]
    location: Text | None = None


class _Event(_Strict):
    event_id: EventId
    at: Instant


class ArrestEvent(_Event):
    type: Literal["arrest"]
    arrest: ArrestFacts
    parties: list[Party] = Field(min_length=1, max_length=50)
    charges: ChargeList

    @model_validator(mode="after")
    def _one_arrestee(self) -> ArrestEvent:
        n = sum(1 for p in self.parties if p.role == "arrestee")
        if n != 1:
            raise ValueError(f"parties: an arrest has exactly one arrestee, found {n}")
        return self

    @property
    def arrest_id(self) -> str:
        return self.arrest.arrest_id


class ChargingEvent(_Event):
    type: Literal["charging"]
    arrest_id: Identifier
    decision: Literal["approved", "declined", "modified"]
    charges: ChargeList | None = None

    @model_validator(mode="after")
    def _modified_has_charges(self) -> ChargingEvent:
        if self.decision == "modified" and self.charges is None:
            raise ValueError("charges: required when decision is 'modified' (the full new list)")
        return self


class Bail(_Strict):
    type: Literal["ROR", "unsecured", "monetary", "nonmonetary", "denied"]
    amount: Annotated[Decimal, Field(ge=0, le=100_000_000, decimal_places=2)] | None = None

    @model_validator(mode="after")
    def _amount_fits_type(self) -> Bail:
        if self.type in ("monetary", "unsecured") and self.amount is None:
            raise ValueError(f"amount: required for {self.type} bail")
        if self.type in ("ROR", "denied") and self.amount not in (None, 0):
            raise ValueError(f"amount: {self.type} bail has no amount")
        return self


class ArraignmentEvent(_Event):
    type: Literal["arraignment"]
    arrest_id: Identifier
    held_at: Instant
    bail: Bail
    commissioner: Name | None = None


class ChargeDisposition(_Strict):
    seq: int = Field(ge=1, le=999)
    disposition: Literal["withdrawn", "dismissed", "held_for_court", "guilty", "not_guilty"]


class DispositionEvent(_Event):
    type: Literal["disposition"]
    arrest_id: Identifier
    charges: list[ChargeDisposition] = Field(min_length=1, max_length=99)


class ReleaseEvent(_Event):
    type: Literal["release"]
    arrest_id: Identifier
    released_at: Instant
    facility: Text | None = None


class ExpungementEvent(_Event):
    type: Literal["expungement"]
    arrest_id: Identifier
    order: Text


FollowUp = ChargingEvent | ArraignmentEvent | DispositionEvent | ReleaseEvent | ExpungementEvent
BookingEvent = ArrestEvent | FollowUp

_ADAPTER: TypeAdapter[BookingEvent] = TypeAdapter(Annotated[BookingEvent, Field(discriminator="type")])


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    event: BookingEvent
    canonical: str  # canonical JSON: model field order, no nulls
    sha256: str

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def arrest_id(self) -> str:
        return self.event.arrest_id


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    event_id: str | None = None


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field (not in the booking event contract)",
    "string_too_short": "must not be empty",
    "date_from_datetime_parsing": "not a date (YYYY-MM-DD)",
    "date_parsing": "not a date (YYYY-MM-DD)",
    "date_type": "not a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "not a date (YYYY-MM-DD)",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
    "union_tag_invalid": "must be one of " + ", ".join(EVENT_TYPES),
    "union_tag_not_found": "required (one of " + ", ".join(EVENT_TYPES) + ")",
}


_TIME_ERRORS = frozenset(
    {
        "timezone_aware",
        "datetime_parsing",
        "datetime_type",
        "datetime_from_date_parsing",
        "datetime_object_invalid",
    }
)


def _loc(loc: tuple[int | str, ...], error_type: str) -> str:
    parts = list(loc)
    # A discriminated union puts the tag first: ('arrest', 'arrest', 'arrested_at').
    if parts and parts[0] in EVENT_TYPES and error_type not in {"union_tag_invalid"}:
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p in {"function-after[_unique_seqs(), list[Charge]]"} or "[" in str(p):
            continue  # pydantic's internal validator names
        else:
            out += f".{p}" if out else str(p)
    return out or "event"


def describe(exc: ValidationError) -> str:
    """The reasons of a validation error, each naming its field first."""
    reasons = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        where = _loc(err["loc"], kind)
        if kind in {"union_tag_invalid", "union_tag_not_found"}:
            where = "type"
        if kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
            if ": " in msg and msg.split(": ", 1)[0].isidentifier():
                # The validator already named a field relative to this object.
                field, msg = msg.split(": ", 1)
                where = f"{where}.{field}" if where != "event" else field
        elif kind == "literal_error":
            msg = "must be one of " + str(err.get("ctx", {}).get("expected", ""))
        elif kind in {"decimal_parsing", "decimal_type", "float_parsing", "float_type"}:
            msg = "must be a number"
        elif kind in _TIME_ERRORS:
            msg = "not an ISO 8601 time with an offset"
        elif kind == "string_pattern_mismatch" and where.endswith("arrest_id"):
            msg = "must be 1-64 letters, digits, '-', '_', '.' or ':'"
        else:
            text = str(err["msg"]).rstrip(".")
            msg = _MESSAGES.get(kind) or (text[:1].lower() + text[1:])
        reasons.append(f"{where}: {msg}")
    return "; ".join(dict.fromkeys(reasons))


def parse_event(line: str | bytes) -> ParsedEvent | Rejection:
    """Validate one JSON line of CONTRACT section 1."""
    if len(line) > MAX_LINE_BYTES:
        return Rejection(f"event: line longer than {MAX_LINE_BYTES} bytes")
    if isinstance(line, str):
        try:
            line = line.encode()
        except UnicodeEncodeError:
            return Rejection("event: a string holds a lone surrogate, not Unicode text")
    try:
        event = _ADAPTER.validate_json(line)
    except ValidationError as exc:
        return Rejection(describe(exc), _event_id_of(exc, line))
    except (ValueError, RecursionError) as exc:  # never a traceback, never a lost batch
        return Rejection(f"event: not a booking event ({type(exc).__name__})", _event_id_of(None, line))
    canonical = event.model_dump_json(exclude_none=True)
    return ParsedEvent(event, canonical, hashlib.sha256(canonical.encode()).hexdigest())


def parse_obj(obj: Any) -> ParsedEvent | Rejection:
    """Validate one already-decoded JSON object (the HTTP bookings route)."""
    try:
        line = json.dumps(obj, ensure_ascii=False)
    except (ValueError, RecursionError):
        return Rejection("event: nested too deeply to be a booking event")
    return parse_event(line)


_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"\\]{1,200})"')


def _event_id_of(exc: ValidationError | None, line: str | bytes) -> str | None:
    raw = line.encode() if isinstance(line, str) else line
    m = _EVENT_ID.search(raw)
    return m.group(1).decode("utf-8", "replace") if m else None
