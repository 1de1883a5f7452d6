"""Canonical forms of person-identifying values, shared by identity, search and
the audit log's keyed hashes (so a logged hash of a searched name can later be
matched against the name of a victim). Pure.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_DROPPED = re.compile(r"['’`.]")
_SEPARATORS = re.compile(r"[\s\-_,]+")
_SSN = re.compile(r"^\d{3}-?\d{2}-?\d{4}$")


@lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    """Case-, accent- and punctuation-insensitive form: ``"O'Brien-Núñez "`` -> ``obrien nunez``."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", _DROPPED.sub("", stripped.casefold())).strip()


def ssn_key(ssn: str) -> str | None:
    """``123456789`` or ``123-45-6789`` -> ``123-45-6789``; anything else -> None."""
    s = ssn.strip()
    if not _SSN.match(s):
        return None
    digits = s.replace("-", "")
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def address_key(address: str) -> str:
    return " ".join(address.casefold().split())


def filter_value_key(name: str, value: object) -> str:
    """The canonical text of a filter value, as hashed into the audit log."""
    text = str(value)
    if name in {"last_name", "first_name"}:
        return name_key(text)
    if name == "ssn":
        return ssn_key(text) or text.strip()
    if name in {"address", "location"}:
        return address_key(text)
    return text.strip()
