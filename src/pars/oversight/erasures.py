"""Texts gone from storage, and whether the log says why: the custodian's side of the texts.

A reason, a case number, a purpose or a warrant a partner typed is kept beside its
leaf (``pars.audit.texts``) and only committed in it, so that it can be erased. That
also lets the custodian delete or edit a stored text without breaking the log: a
reason that would have shown a partner's purpose as unlawful could quietly vanish
from a report (the detectors read an erased text as unknown). Erasure is lawful only
as the log records it, so the report checks each text that is gone (its commitment
left in place, unopened: deleted, or edited so it no longer opens) against:

- an ``erase_texts`` admin entry naming the entry's index (``pars audit erase``);
- a ``text_retention`` admin entry after it whose cutoff is later than the entry's time
  (``pars audit retention``);
- an expungement of an arrest the entry names (the ``expungements`` table; an expunged
  arrest's texts go with it).

A text gone with none of these is *unexplained*: the report counts them and lists their
indices (``log.texts``), and its summary says so. Which texts went is on the record in
the leaves (each commitment), so the custodian cannot hide that they went.

Rule: only admin entries up to the report's signed checkpoint explain anything (checked
bytes, as every other entry the report reads); an erasure logged after it explains
nothing until the next checkpoint.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

import orjson

from pars.audit import LogView
from pars.audit.texts import TOP_KEYS, is_commitment, named_arrests
from pars.clock import parse_instant
from pars.oversight.model import Entry, RecordFacts

#: Unexplained indices listed in the report (all are counted).
LISTED = 50
#: An admin entry's bytes hold this (RFC 8785: sorted keys, no spaces): only entries that
#: do are decoded in the second pass. A custodian writing an admin entry otherwise only
#: loses its explanation (the text counts as unexplained), never hides a gone text.
_ADMIN = b'"kind":"admin"'


class GoneTexts:
    """An observer of the report's stream (texts opened): the entries whose texts are gone."""

    def __init__(self, facts: RecordFacts) -> None:
        self.facts = facts
        #: Entries with texts (version 2) seen.
        self.checked = 0
        #: Gone, explained by the expungement of an arrest the report already knows.
        self.expunged = 0
        #: Gone and not yet explained: index, entry time (seconds since the epoch), compactly.
        self._index = array("q")
        self._time = array("d")
        #: Arrests those name that the report has no facts for (a read refused with 404).
        self._names: dict[int, frozenset[str]] = {}

    def observe(self, index: int, entry: Entry) -> None:
        if entry.get("v") != 2:
            return
        self.checked += 1
        for key in TOP_KEYS:  # a loop, not any(...): this runs for every entry of the log
            if is_commitment(entry.get(key)):
                break
        else:
            return
        named = named_arrests(entry)
        if any(self.facts.is_expunged(a) for a in named):
            self.expunged += 1
            return
        try:
            at = parse_instant(str(entry.get("time"))).timestamp()
        except ValueError:
            at = float("inf")  # no time: no retention cutoff can cover it
        self._index.append(index)
        self._time.append(at)
        unknown = frozenset(a for a in named if self.facts.arrest(a) is None)
        if unknown:
            self._names[index] = unknown

    def summary(self, view: LogView, expunged: Callable[[list[str]], set[str]]) -> dict[str, Any]:
        """``log.texts``: how many entries with texts were read, how many have texts gone,
        how many of those the log or an expungement explains, and the unexplained.

        ``expunged(ids)`` answers which of these arrest ids are expunged (the store's
        ``expungements``)."""
        gone = list(zip(self._index, self._time, strict=True))
        erased, cutoffs = _erasures(view, min(self._index) + 1) if gone else (set(), [])
        left = []
        for index, at in gone:
            if index in erased or any(r > index and at < before for r, before in cutoffs):
                continue
            left.append(index)
        names = {a for i in left for a in self._names.get(i, ())}
        gone_with = expunged(sorted(names)) if names else set()
        unexplained = [i for i in left if not self._names.get(i, frozenset()) & gone_with]
        return {
            "checked": self.checked,
            "gone": len(gone) + self.expunged,
            "explained": len(gone) + self.expunged - len(unexplained),
            "unexplained": len(unexplained),
            "unexplained_indices": unexplained[:LISTED],
        }


def _erasures(view: LogView, start: int) -> tuple[set[int], list[tuple[int, float]]]:
    """From ``start`` to the view's signed size: the indices ``erase_texts`` entries name, and
    each ``text_retention`` entry's (index, cutoff as seconds since the epoch)."""
    erased: set[int] = set()
    cutoffs: list[tuple[int, float]] = []
    for e in view.raw(start):
        if _ADMIN not in e.entry:
            continue
        doc = orjson.loads(e.entry)
        if doc.get("kind") != "admin" or not isinstance(doc.get("detail"), dict):
            continue
        detail = doc["detail"]
        if doc.get("action") == "erase_texts" and isinstance(detail.get("index"), int):
            if detail["index"] < e.index:
                erased.add(detail["index"])
        elif doc.get("action") == "text_retention" and isinstance(detail.get("before"), str):
            try:
                cutoffs.append((e.index, parse_instant(detail["before"]).timestamp()))
            except ValueError:
                continue
    return erased, cutoffs
