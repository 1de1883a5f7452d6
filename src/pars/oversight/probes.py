"""protected_role_probe: attempts to reach victims and witnesses.

Three signs, each one audit entry:
- a denial whose rule is ``roles`` or names ``parties`` (asking for party fields);
- a read or search by an id (``arrest_id``/``person_id`` filter) that is a victim's
  or witness's person id and found nothing (404 or no results);
- a search whose keyed-hashed last and first name, or one name alone (a surname
  search), or with no name the dob, match a victim or witness and match no
  arrestee: the partner was looking for the person as a victim or witness, since
  as an arrestee they do not exist (CONTRACT 6: a search by any name of a victim
  or witness is an attempt to reach them).

A denial counts by any of its ``violations``, not only its deciding rule.

The name hashes are recomputed by ``facts.py`` with the log's HMAC key, exactly as
the gate logged the search; no name is ever un-hashed.

Rule: a search that also matches an arrestee is never a probe (the person may be
sought for their own arrest).
"""

from __future__ import annotations

from typing import Any

from pars.oversight.counted import CountDetector
from pars.oversight.model import Entry, Resolved


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class ProtectedRoleProbe(CountDetector):
    kind = "protected_role_probe"
    what = "that sought victims or witnesses, whom the agreement does not let it see"
    test = "count of requests denied for party roles or finding only a victim or witness"
    seen = (
        "denials for party roles, and in searches and reads that found no arrestee but matched a victim's "
        "or witness's id, name, surname or first name alone, or date of birth (compared as keyed hashes)"
    )
    tail = (
        "A search that also matched an arrestee is not counted; every attempt is in the audit "
        "log at the indices listed."
    )

    def thresholds(self) -> tuple[int, int, int]:
        c = self.config
        return c.probe_min, c.probe_medium, c.probe_high

    def match(self, entry: Entry, r: Resolved) -> tuple[str, float] | None:
        for rule in r.violations:
            if rule == "roles" or "parties" in rule:
                return f"denied: {rule}", 2.0
        filters = entry.get("filters") or {}
        found_nothing = entry.get("status") == 404 or (
            entry.get("decision") == "allow" and not entry.get("arrest_ids")
        )
        if not found_nothing:
            return None
        for name in ("person_id", "arrest_id"):
            if any(v in self.facts.protected_persons for v in _values(filters.get(name))):
                return f"{entry.get('action')} by a victim's or witness's id", 3.0
        if entry.get("action") != "search":
            return None
        lasts, firsts = _values(filters.get("last_name")), _values(filters.get("first_name"))
        if lasts and firsts:
            pairs = {(last, first) for last in lasts for first in firsts}
            if pairs & self.facts.protected_names and not pairs & self.facts.arrestee_names:
                return "search by a victim's or witness's name", 3.0
            return None
        f = self.facts
        for alone, protected, arrestees in (
            (set(lasts), f.protected_last_names, f.arrestee_last_names),
            (set(firsts), f.protected_first_names, f.arrestee_first_names),
        ):
            if alone and alone & protected and not alone & arrestees:
                return "search by a victim's or witness's name alone", 2.0
        dobs = set(_values(filters.get("dob")))
        if dobs & self.facts.protected_dobs and not dobs & self.facts.arrestee_dobs:
            return "search by a victim's or witness's date of birth", 1.0
        return None
