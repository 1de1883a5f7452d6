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
from pars.errors import InvalidInput

Action = Literal["search", "read", "feed"]


def _filter_value(value: object) -> object:
    def scalar(v: object) -> bool:
        return isinstance(v, str | int | float) and not isinstance(v, bool) and len(str(v)) <= 1000

    if scalar(value) or (isinstance(value, list) and len(value) <= 100 and all(scalar(v) for v in value)):
        return value
    raise ValueError("must be a string, a number or a list of them")


FilterValue = Annotated[object, PlainValidator(_filter_value)]


def _blank_is_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


OptionalText = Annotated[Annotated[StrictStr, Field(max_length=2000)] | None, BeforeValidator(_blank_is_none)]
SortKey = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class Request(BaseModel):
    """One request: the body of ``POST /v1/search``, a read by id, or a feed subscription.

    >>> Request.search({"purpose": "C", "filters": {"last_name": "Doe"}}).action
    'search'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action = "search"
    purpose: Annotated[Annotated[StrictStr, Field(max_length=100)] | None, BeforeValidator(_blank_is_none)]
    case_number: OptionalText = None
    justification: OptionalText = None
    warrant: OptionalText = None
    filters: Annotated[dict[StrictStr, FilterValue], Field(max_length=32)] = {}
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
