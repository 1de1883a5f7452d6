"""Every threshold the detectors use, documented, in one frozen dataclass.

The defaults are tuned so that an analyst working ordinary cases (a few people
per case, a stated reason, a purpose the agreement permits, occasional typos) is
not flagged, while a sustained pattern is. ``OversightConfig.from_mapping`` takes
the same keys from YAML or JSON (unknown keys are an error, so a misspelt
threshold is never silently ignored).

Severity, per kind (each a setting below):

- origin_targeting, non_criminal_targeting: found when q <= ``alpha`` and the ratio
  to the scope's share (per query: to the mean of each query's own base rate) >= ``min_ratio``,
  in whichever view (whole, aimed, per query, pooled users, a sliding window; windows also
  read ``lookback_days`` before a report's start); medium from ``ratio_medium``, high from
  ``ratio_high``. Empty searches alone: low, medium from ``empty_share_medium`` of them.
- forbidden_filter, protected_role_probe, out_of_term_access, purpose_mismatch:
  counts of requests; found from ``*_min``, medium from ``*_medium``, high from
  ``*_high``.
- bulk_access: medium for any sign; high from ``enumeration_high_run`` (reads or
  date windows), ``volume_z_high``, ``people_per_case_high``, ``people_per_day_high``,
  ``coverage_share_high``, and for any feed replay.
- vague_justification: medium; high from ``vague_share_high`` of reasons vague or
  one reason covering ``reuse_people_high`` people.

Rule: a threshold lives here or nowhere; detectors never hard-code a number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pars.errors import InvalidInput

#: Purpose codes as agreements write them -> the name a report shows.
PURPOSE_NAMES: dict[str, str] = {
    "C": "criminal investigation",
    "W": "warrant service",
    "P": "prosecution",
    "S": "public safety emergency",
    "IMM": "immigration enforcement",
    "EMP": "employment screening",
    "CIV": "civil or administrative matter",
    "LIC": "licensing",
}

#: Phrases that state a purpose on their own, per purpose code (English and Spanish),
#: matched on normalised text (``pars.oversight.reasons``) as whole words; a trailing
#: ``*`` matches any ending. A reason stating a purpose whose code the agreement does
#: not list is a ``purpose_mismatch``. See docs/oversight-lexicon.md.
PURPOSE_PHRASES: dict[str, tuple[str, ...]] = {
    "IMM": (
        # English: civil immigration enforcement and its vocabulary
        "immigration status", "immigration check*", "immigration enforcement", "immigration hold*",
        "immigration detainer*", "immigration violation*", "immigration review", "immigration purpose*",
        "immigration case", "immigration proceeding*", "immigration court", "immigration judge",
        "immigration lead", "immigration matter", "immigration consequence*", "immigration removal",
        "deport", "deports", "deported", "deporting", "deportation*", "deportable", "deportee*",
        "removab*", "removal proceeding*", "removal order*", "order of removal",
        "removal hearing*", "removal case", "removal review",
        "notice to appear", "ice detainer*", "dhs detainer*", "ice hold*", "ice referral",
        "ice custody", "ice request*", "ice lead", "ice ero", "ero", "enforcement and removal*",
        "i 247*", "i 200", "i 205", "i 213", "alien file", "illegal alien*",
        "illegal immigrant*", "illegal immigration", "criminal alien*", "removable alien*",
        "visa overstay*", "overstay*", "overstayed", "out of status", "lawful status",
        "legal status", "unlawful presence", "unlawfully present", "entered without inspection",
        "ewi", "expedited removal", "voluntary departure", "inadmissib*", "alienage",
        "citizenship status", "green card status", "status verification",
        # Spanish
        "inmigracion ilegal", "estatus migratorio", "estado migratorio", "situacion migratoria",
        "condicion migratoria", "calidad migratoria", "control migratorio", "verificacion migratoria",
        "orden de expulsion", "expulsion del pais", "proceso de expulsion",
        "visa vencida", "sobreestancia", "estancia ilegal", "permanencia ilegal",
        "extranjero ilegal", "extranjeros ilegales", "ilegal en el pais", "sin estatus legal",
        "retencion de ice", "orden de retencion", "deportar*", "deportacion*", "deportad*",
    ),
    "EMP": ("employment", "background check", "pre-employment", "hiring", "job applicant"),
    "CIV": ("child support", "custody dispute", "eviction", "debt collection", "civil suit", "divorce"),
    "LIC": ("license application", "licensing", "permit application"),
}  # fmt: skip

#: Regular expressions (on normalised, lower-case text) that state a purpose on their
#: own: statute references and file numbers.
PURPOSE_PATTERNS: dict[str, tuple[str, ...]] = {
    "IMM": (
        # INA 287(g) (also as 8 U.S.C. 1357(g)) and the INA's removal sections
        r"(?<!\w)287[\W_]*\(?[\W_]*g(?!\w)",
        r"(?<!\w)ina[\W_]*(?:§+|sec\w*)?[\W_]*(?:212|235|236|237|238|240|241|287)(?!\d)",
        # 8 U.S.C. §§ 1182, 1225, 1226, 1227, 1229, 1229a, 1231, 1357 (not 1324-1328: crimes)
        r"(?<!\w)8[\W_]*u[\W_]*s[\W_]*c[\W_]*(?:§+|sec\w*|section\w*)?[\W_]*"
        r"(?:1182|1225|1226|1227|1229a?|1231|1357)(?!\d)",
        r"(?:§+|sec\w*|section\w*)[\W_]*(?:1225|1226|1227|1229a|1231|1357)(?!\d)",
        # A-numbers: A followed by 8 or 9 digits (A123456789, A# 123-456-789, a-12345678),
        # not an arrest id (A-2018-000123)
        r"(?<![\w-])a[\s#:.-]{0,3}(?!\d{4}-\d{6})\d{2,3}[\s.-]?\d{3}[\s.-]?\d{3}(?![\w-])",
    ),
}

#: Words that state a purpose unless the reason also names a crime (``CRIMINAL_CUES``).
PURPOSE_WEAK: dict[str, tuple[str, ...]] = {
    "IMM": (
        "immigration", "immigrant*", "undocumented", "alien", "aliens", "non citizen*",
        "noncitizen*", "foreign national*", "green card", "detainer*", "status check*",
        "inmigracion", "inmigrante*", "migratori*", "indocumentad*", "sin papeles",
        "no ciudadano*", "extranjero", "migra", "expulsion",
    ),
}  # fmt: skip

#: A crime named beside a weak word makes the reason a criminal investigation that
#: mentions immigration (visa fraud, smuggling, a victim's nationality), not a purpose.
CRIMINAL_CUES: tuple[str, ...] = (
    "fraud*", "smuggl*", "traffick*", "forg*", "counterfeit*", "scam*", "extort*", "victim*",
    "witness*", "complainant*", "notario*", "robbery", "assault*", "homicide", "murder*",
    "burglar*", "theft", "stolen", "stabb*", "dui", "narcotic*", "firearm*", "shooting", "rape", "kidnap*",
    "identity theft", "1324", "1328", "1546", "warrant", "interstate", "extradition",
    "fraude*", "estafa*", "contraband*", "trafico", "trata", "victima*", "testigo*",
    "denunciante*", "robo", "asalto", "homicidio", "secuestro*",
)  # fmt: skip

#: Justifications that say nothing: compared after lower-casing and stripping
#: punctuation and digits.
BOILERPLATE: tuple[str, ...] = (
    "investigation",
    "ongoing investigation",
    "active investigation",
    "criminal investigation",
    "official business",
    "law enforcement",
    "law enforcement purposes",
    "law enforcement purpose",
    "routine check",
    "routine",
    "records check",
    "background",
    "per supervisor",
    "see case",
    "case",
    "research",
    "intel",
    "intelligence",
    "info",
    "information",
    "na",
    "n a",
    "none",
    "test",
    "query",
)


@dataclass(frozen=True)
class OversightConfig:
    """Detector thresholds. Severity bands read "at least": low < medium < high."""

    # --- statistics (origin_targeting, non_criminal_targeting) ---
    #: False discovery rate across all users tested for one kind (Benjamini–Hochberg).
    #: A finding names a person, so it is strict: when nobody misbehaves, about one
    #: agency in a thousand gets one false statistical finding per test.
    alpha: float = 0.001
    #: Smallest share ratio (user's share / scope's share) worth a finding.
    min_ratio: float = 1.5
    #: Fewer distinct people than this: too few to test.
    min_people: int = 10
    #: Sliding windows (days) in which each user's aimed access is tested too, each window
    #: stepping half its length; every window joins the same Benjamini–Hochberg family.
    window_days: tuple[int, ...] = (30, 90)
    #: Days of the log before a report's start (``--from``) that the sliding windows also read,
    #: so a window ending in the period sees the activity before it (a slow campaign is found by
    #: monthly reports too); None: the longest of ``window_days``. Findings come only from windows
    #: holding a request of the period; nothing else reads the lookback.
    lookback_days: int | None = None
    #: Confidence of the ratio's interval.
    confidence: float = 0.95
    #: Power for the "smallest skew we could have detected" statement.
    power: float = 0.8
    #: Ratio at which a significant skew is medium / high severity.
    ratio_medium: float = 2.0
    ratio_high: float = 3.0
    #: Searches naming a person that matched nobody: share of the user's searches
    #: (Fisher's exact test against the rest of the agency) and the minimum count.
    empty_search_min: int = 20
    #: ... at least this many times the rest of the agency's rate.
    empty_search_ratio: float = 2.0
    #: Share of a user's searches found empty from which the finding is medium.
    empty_share_medium: float = 0.5
    #: Most evidence indices listed per finding (most telling first).
    max_evidence: int = 50

    # --- counted conduct: at least this many events for a finding, then bands ---
    #: protected_role_probe: requests that sought a victim or witness.
    probe_min: int = 2
    probe_medium: int = 5
    probe_high: int = 20
    #: forbidden_filter: requests denied for a forbidden, hidden or warrant-only field.
    forbidden_min: int = 2
    forbidden_medium: int = 5
    forbidden_high: int = 20
    #: Rules that only say a name was misspelt count toward forbidden_filter only
    #: from this many (a typo is not a probe).
    typo_min: int = 10
    #: ... and only when they are at least this share of the user's requests.
    typo_share: float = 0.05
    #: out_of_term_access: requests denied by term.start, term.end or approvals.
    out_of_term_min: int = 1
    out_of_term_medium: int = 5
    out_of_term_high: int = 20

    # --- bulk_access ---
    #: Longest run of consecutive arrest numbers read one by one.
    enumeration_min_run: int = 15
    enumeration_high_run: int = 50
    #: Robust z-score of a user's request count against the agency's users.
    volume_z: float = 6.0
    volume_z_high: float = 12.0
    #: At least this many users in the agency before volume is compared.
    volume_min_users: int = 5
    #: And at least this many requests by the user.
    volume_min_requests: int = 200
    #: Distinct people under one case number.
    people_per_case: int = 60
    people_per_case_high: int = 200
    #: Distinct people a user chose to see in one day (UTC): a finding needs at least this
    #: many and a robust z-score of ``volume_z`` against all user-days (all agreements)
    #: and, with ``volume_min_users`` users, against its own agreement's.
    people_per_day_min: int = 150
    people_per_day_high: int = 1000
    #: Share of the people in the agreement's scope one user has seen (any sweep), from
    #: ``coverage_min_people`` people (on a small store a busy analyst sees much of it).
    coverage_share: float = 0.2
    #: ... high severity from this share.
    coverage_share_high: float = 0.4
    #: Fewest distinct people seen before coverage counts.
    coverage_min_people: int = 500
    #: Distinct people the feed delivers a subscriber in one day: beyond this it is a
    #: replay of history, not the city's new and changed arrests (a big city books ~150 a day).
    feed_people_per_day: int = 1000

    # --- vague_justification ---
    #: Fewer tokens than this (after normalising) is a missing reason.
    justification_min_tokens: int = 3
    #: Share of a user's requests with missing or boilerplate reasons, and the minimum count.
    vague_share: float = 0.5
    vague_share_high: float = 0.9
    vague_min: int = 20
    #: One reason text (near-duplicates merged) reused across this many distinct people.
    reuse_people: int = 30
    #: ... and only when those people are at least this share of the user's people
    #: (a busy analyst's case template is not one reason reused).
    reuse_share: float = 0.2
    reuse_people_high: int = 100
    #: Word-set Jaccard similarity at which two reasons are "the same text" (0.9: one
    #: word added or dropped from ten; one word changed is a different reason).
    reuse_similarity: float = 0.9
    #: Distinct reason texts tracked per user (memory bound).
    reuse_max_texts: int = 500
    #: One case number reused across this many distinct people.
    case_reuse_people: int = 40

    # --- purpose_mismatch ---
    #: Requests whose reason states a purpose the agreement does not permit.
    mismatch_min: int = 2
    mismatch_medium: int = 5
    mismatch_high: int = 20
    #: Purpose code -> the name a report shows (``PURPOSE_NAMES``).
    purpose_names: dict[str, str] = field(default_factory=lambda: dict(PURPOSE_NAMES))
    #: Phrases that state each purpose on their own (``PURPOSE_PHRASES``; docs/oversight-lexicon.md).
    purpose_phrases: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(PURPOSE_PHRASES))
    #: Regular expressions that state each purpose on their own: statutes, A-numbers (``PURPOSE_PATTERNS``).
    purpose_patterns: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(PURPOSE_PATTERNS))
    #: Words that state a purpose unless a crime is named too (``PURPOSE_WEAK``).
    purpose_weak: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(PURPOSE_WEAK))
    #: Words naming a crime, which make a weak word a mention, not a purpose (``CRIMINAL_CUES``).
    criminal_cues: tuple[str, ...] = CRIMINAL_CUES
    #: Reasons that say nothing (``BOILERPLATE``), for vague_justification.
    boilerplate: tuple[str, ...] = BOILERPLATE

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> OversightConfig:
        """A config from YAML/JSON keys; unknown keys raise ``InvalidInput``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInput(f"{unknown[0]}: not an oversight setting")
        values = dict(data)
        for key in ("purpose_phrases", "purpose_patterns", "purpose_weak"):
            if key in values:
                values[key] = {str(k): tuple(v) for k, v in values[key].items()}
        for key in ("boilerplate", "criminal_cues", "window_days"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @property
    def lookback(self) -> int:
        """Days read before a report's start for the sliding windows (``lookback_days``)."""
        if self.lookback_days is not None:
            return max(0, self.lookback_days)
        return max(self.window_days, default=0)

    def band(self, count: float, medium: float, high: float) -> str:
        """low / medium / high for a count (or ratio) already past its minimum."""
        if count >= high:
            return "high"
        if count >= medium:
            return "medium"
        return "low"

    def purpose_name(self, code: str) -> str:
        return self.purpose_names.get(code, code)
