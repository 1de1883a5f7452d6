"""A partner's request as decide() sees it: search, read or feed (CONTRACT section 4).

Strict validation lives here, so decide() only ever meets well-formed requests:
wrong types, unknown body keys, a missing purpose or a ``read`` without an
``arrest_id`` fail with ``InvalidInput`` naming the field (HTTP 422). Filter and
sort *names* are not judged here: an unknown or hidden name is a denial decided
under the agreement (and logged with its clause), not a malformed request.

Rule: blank strings mean absent (``case_number: "  "`` is no case number), so a
requirement can never be met by whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from pars.agreements.document import describe
from pars.bounds import is_unicode
from pars.clock import WINDOW, parse_day, parse_instant
from pars.errors import InvalidInput

Action = Literal["search", "read", "feed"]


#: Bounds of a request (an entry records a request whole within them: ``pars.audit.entry``).
MAX_FILTERS = 16
MAX_LIST = 20
MAX_VALUE_CHARS = 1000
#: A known name is at most 64 characters; a logged commitment (replayed) is 71.
MAX_NAME_CHARS = 80
MAX_TEXT_CHARS = 2000
#: Numbers a filter takes: what a JSON double holds exactly.
MAX_NUMBER = 2**53


def _filter_value(value: object) -> object:
    def scalar(v: object) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, int | float):
            return abs(v) < MAX_NUMBER and v == v  # no NaN, no huge numbers
        return isinstance(v, str) and len(v) <= MAX_VALUE_CHARS and is_unicode(v)

    if scalar(value) or (
        isinstance(value, list) and 1 <= len(value) <= MAX_LIST and all(scalar(v) for v in value)
    ):
        return value
    raise ValueError(
        f"must be a string of at most {MAX_VALUE_CHARS} characters, a number or a list of "
        f"1 to {MAX_LIST} of them"
    )


def _filter_name(name: str) -> str:
    if not 1 <= len(name) <= MAX_NAME_CHARS or not is_unicode(name):
        raise ValueError(f"a filter name is 1 to {MAX_NAME_CHARS} characters")
    return name


FilterValue = Annotated[object, PlainValidator(_filter_value)]
FilterName = Annotated[StrictStr, AfterValidator(_filter_name)]
#: Filters whose values are times: checked against the one instant parser up front.
_TIME_FILTERS = ("arrested_from", "arrested_to")


def _blank_is_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _unicode_text(value: str) -> str:
    if not is_unicode(value):
        raise ValueError("holds a lone surrogate (not Unicode text)")
    return value


_Text = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS), AfterValidator(_unicode_text)]
OptionalText = Annotated[_Text | None, BeforeValidator(_blank_is_none)]
SortKey = Annotated[
    StrictStr, Field(min_length=1, max_length=MAX_NAME_CHARS + 1), AfterValidator(_unicode_text)
]


def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_day(value) if len(value) == 10 else parse_instant(value)
    except ValueError:
        return False
    return True


class Request(BaseModel):
    """One request: the body of ``POST /v1/search``, a read by id, or a feed subscription.

    >>> Request.search({"purpose": "C", "filters": {"last_name": "Doe"}}).action
    'search'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action = "search"
    purpose: Annotated[
        Annotated[StrictStr, Field(max_length=100), AfterValidator(_unicode_text)] | None,
        BeforeValidator(_blank_is_none),
    ]
    case_number: OptionalText = None
    justification: OptionalText = None
    warrant: OptionalText = None
    filters: Annotated[dict[FilterName, FilterValue], Field(max_length=MAX_FILTERS)] = {}
    sort: Annotated[list[SortKey], Field(max_length=8)] = []
    limit: StrictInt | None = Field(default=None, ge=1, le=100_000)
    arrest_id: OptionalText = None

    @model_validator(mode="after")
    def _shape_fits_action(self) -> Request:
        if self.purpose is None:
            raise ValueError("purpose: required")
        if self.action == "read" and self.arrest_id is None:
            raise ValueError("arrest_id: required to read an arrest")
        if self.action != "read" and self.arrest_id is not None:
            raise ValueError(f"arrest_id: not part of a {self.action} request")
        if self.action != "search" and (self.filters or self.sort or self.limit is not None):
            raise ValueError(f"filters: a {self.action} request takes no filters, sort or limit")
        for name in _TIME_FILTERS:
            value = self.filters.get(name)
            if value is not None and not _is_time(value):
                raise ValueError(
                    f"filters.{name}: not a date (YYYY-MM-DD) or an ISO 8601 time with an offset, {WINDOW}"
                )
        return self

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Request:
        """Validate any request shape (``action`` defaults to ``search``)."""
        if not isinstance(data, Mapping):
            raise InvalidInput("request: must be a JSON object")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise InvalidInput(describe(exc)) from None

    @classmethod
    def search(cls, body: Mapping[str, Any]) -> Request:
        """The body of ``POST /v1/search``; an ``action`` key is not part of it."""
        if isinstance(body, Mapping) and "action" in body:
            raise InvalidInput("action: unknown key")
        return cls.parse({**body, "action": "search"})

    @classmethod
    def read(cls, arrest_id: str, params: Mapping[str, Any]) -> Request:
        """``GET /v1/arrests/{arrest_id}`` with its query parameters."""
        return cls.parse({**params, "action": "read", "arrest_id": arrest_id})

    @classmethod
    def feed(cls, params: Mapping[str, Any]) -> Request:
        """``GET /v1/feed`` with its query parameters."""
        return cls.parse({**params, "action": "feed"})

    def filter_names(self) -> tuple[str, ...]:
        """Every record name this request filters or sorts by (a read filters by arrest_id)."""
        if self.action == "read":
            return ("arrest_id",)
        return (*self.filters, *(k[1:] if k.startswith("-") else k for k in self.sort))
