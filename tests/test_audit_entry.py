"""Audit entries, keyed hashes of personal filters, signed checkpoints and key files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pars.audit import (
    AuditEntry,
    CheckpointError,
    build_entry,
    create_keys,
    keyed_hash,
    leaf_hash,
    load_keys,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
)
from pars.audit.entry import (
    KEYS,
    MAX_CLEAR,
    MAX_ENTRY_BYTES,
    MAX_FILTERS,
    MAX_LIST,
    MAX_SORT,
    EntryTooLarge,
    hash_filters,
)
from pars.audit.note import public_key_bytes
from pars.audit.texts import MAX_TEXT, Text
from pars.errors import ConfigError, InvalidInput
from pars.records.fields import PERSONAL_FILTERS

KEY = bytes(range(32))
AT = datetime(2018, 8, 31, 23, 59, 59, 999_000, tzinfo=timezone(timedelta(hours=-4)))


def _entry(**over: Any) -> AuditEntry:
    args: dict[str, Any] = {
        "hmac_key": KEY,
        "time": AT,
        "kind": "access",
        "action": "search",
        "decision": "allow",
        "status": 200,
        "agreement_id": "ice-2017",
        "agreement_version": "a" * 64,
        "agency": "ICE",
        "user": "agent7",
        "route": "POST /v1/search",
        "purpose": "C",
        "case_number": "C-1",
        "justification": "ongoing case",
        "filters": {"last_name": "O'Brien ", "dob": "1990-02-03", "grade": "F1"},
        "sort": ["-arrested_at"],
        "limit": 25,
        "arrest_ids": ["A-2018-000001"],
        "person_ids": ["P-1"],
        "fields": ["arrest_id", "person.last_name"],
    }
    args.update(over)
    return build_entry(**args)


def test_entry_has_every_agreed_key_in_canonical_json() -> None:
    e = _entry()
    doc = json.loads(e.canonical)
    assert list(doc) == sorted(KEYS)  # RFC 8785 sorts keys; nothing more, nothing less
    assert e.canonical == rfc8785.dumps(doc)
    assert doc["v"] == 2
    assert doc["time"] == "2018-09-01T03:59:59+00:00"  # UTC, whole seconds
    assert doc["kind"] == "access"
    assert doc["filters"]["grade"] == "F1"


def test_personal_filter_values_are_keyed_hashes_never_clear() -> None:
    e = _entry(filters={name: "Sensitive Value 123" for name in PERSONAL_FILTERS})
    assert b"Sensitive" not in e.canonical
    for name in PERSONAL_FILTERS:
        value = e.document["filters"][name]
        assert value == keyed_hash(name, "Sensitive Value 123", KEY)
        assert value.startswith("hmac-sha256:") and len(value) == 12 + 64


def test_keyed_hash_matches_normalised_names_so_oversight_can_match_victims() -> None:
    assert keyed_hash("last_name", "O'Brien ", KEY) == keyed_hash("last_name", "obrien", KEY)
    assert keyed_hash("ssn", "923456789", KEY) == keyed_hash("ssn", "923-45-6789", KEY)
    assert keyed_hash("last_name", "Doe", KEY) != keyed_hash("first_name", "Doe", KEY)
    assert keyed_hash("last_name", "Doe", KEY) != keyed_hash("last_name", "Doe", b"x" * 32)


def test_unknown_filter_names_are_hashed_too_fail_closed() -> None:
    e = _entry(filters={"immigration_status": "undocumented", "Jan Doe": "x", "grade": "F1"})
    filters = e.document["filters"]
    # An unknown name is a commitment (its text kept beside the entry), its value a keyed hash.
    unknown = [k for k in filters if k != "grade"]
    assert len(unknown) == 2 and all(k.startswith("sha256:") for k in unknown)
    assert all(filters[k].startswith("hmac-sha256:") for k in unknown)
    assert {e.texts[f"filters.{k}"].text for k in unknown} == {"immigration_status", "Jan Doe"}
    for text in (b"Jan Doe", b"undocumented", b"immigration_status"):
        assert text not in e.canonical


def test_a_raw_personal_value_is_refused_at_the_boundary() -> None:
    doc = dict(_entry().document)
    doc["filters"] = {"last_name": "Doe"}
    with pytest.raises(InvalidInput, match=r"filters\.last_name"):
        AuditEntry.from_document(doc)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("v", 3, "v"),
        ("kind", "other", "kind"),
        ("decision", None, "decision"),
        ("status", "ok", "status"),
        ("arrest_ids", "A-1", "arrest_ids"),
        ("time", "yesterday", "time"),
        ("detail", "text", "detail"),
        ("extra", 1, "extra"),
    ],
)
def test_malformed_entries_name_the_field(key: str, value: object, field: str) -> None:
    doc = dict(_entry().document)
    doc[key] = value
    with pytest.raises(InvalidInput, match=field):
        AuditEntry.from_document(doc)


def test_other_offsets_are_written_in_utc_and_admin_detail_is_kept() -> None:
    doc = dict(_entry(kind="admin", action="approve", detail={"as": "courts"}).document)
    doc["time"] = "2018-06-01T14:03:00.5-04:00"
    e = AuditEntry.from_document(doc)
    assert e.document["time"] == "2018-06-01T18:03:00+00:00"
    assert e.document["detail"] == {"as": "courts"}
    missing = dict(doc)
    del missing["rule"]
    with pytest.raises(InvalidInput, match="rule"):
        AuditEntry.from_document(missing)


def test_receipt_leaf_hash_is_sha256_of_zero_and_the_canonical_entry() -> None:
    """CONTRACT section 4: leaf_hash_hex = SHA-256(0x00 ‖ RFC 8785 bytes of the entry),
    both computed here without ``pars.audit`` or the rfc8785 library."""
    e = _entry(justification="Zoë's case, 1/2 done")
    # RFC 8785 for an entry of strings, integers and ASCII keys: keys sorted, no
    # whitespace, UTF-8 as is, only '"', '\\' and control characters escaped.
    expected = json.dumps(e.document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert e.canonical == expected
    assert leaf_hash(e.canonical) == hashlib.sha256(b"\x00" + expected).digest()
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")


# --- checkpoints ---------------------------------------------------------------


def _signed(size: int = 5, root: bytes = b"\x11" * 32) -> tuple[str, str]:
    sk = Ed25519PrivateKey.generate()
    cp = sign_checkpoint("example.org/log", size, root, "example.org/log", sk)
    return cp.note, verifier_key("example.org/log", public_key_bytes(sk))


def test_our_checkpoints_verify_and_have_the_c2sp_layout() -> None:
    note, vkey = _signed()
    lines = note.split("\n")
    assert lines[:4] == ["example.org/log", "5", base64.b64encode(b"\x11" * 32).decode(), ""]
    assert lines[4].startswith("\u2014 example.org/log ")
    assert verify_checkpoint(note, vkey) == ("example.org/log", 5, b"\x11" * 32)


def test_unknown_signers_are_ignored_but_a_note_needs_one_known_signature() -> None:
    note, vkey = _signed()
    other, other_key = _signed()
    witness_line = other.split("\n\n", 1)[1].replace("example.org/log", "witness.example")
    assert verify_checkpoint(note + witness_line, vkey)[1] == 5
    with pytest.raises(CheckpointError, match="no signature"):
        verify_checkpoint(note, other_key)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("\n5\n", "\n6\n"),
        lambda n: n.replace("\n5\n", "\n05\n"),
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n[:-1],
        lambda n: n.replace("\u2014", "-"),
        lambda n: n + "garbage\n",
        lambda n: "\x00" + n,
        lambda n: n.replace("ERE=\n", "ERF=\n", 1),  # root
        lambda n: n[:-10] + ("A" if n[-10] != "A" else "B") + n[-9:],  # signature
        lambda n: "",
    ],
)
def test_tampered_or_malformed_checkpoints_raise(mutate: Any) -> None:
    note, vkey = _signed()
    with pytest.raises(CheckpointError):
        verify_checkpoint(mutate(note), vkey)


@pytest.mark.parametrize("vkey", ["", "name", "a+b+c", "a+0011223+AQ==", "x y+00112233+AQ==", 5, None])
def test_malformed_verifier_keys_raise_a_clear_error(vkey: Any) -> None:
    note, _ = _signed()
    with pytest.raises(CheckpointError, match="verifier key"):
        verify_checkpoint(note, vkey)


def test_non_text_note_raises_checkpoint_error() -> None:
    _, vkey = _signed()
    with pytest.raises(CheckpointError):
        verify_checkpoint(b"bytes", vkey)  # type: ignore[arg-type]


# --- key files -----------------------------------------------------------------


def test_keys_are_created_once_with_mode_0600_and_never_shown(tmp_path: Path) -> None:
    keys, created = create_keys(tmp_path / "k", name="example.org/log")
    assert len(created) == 2
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = create_keys(tmp_path / "k")
    assert created_again == []
    assert again.verifier_key == keys.verifier_key and again.hmac_key == keys.hmac_key
    assert len(keys.hmac_key) == 32
    assert keys.hmac_key.hex() not in repr(keys)
    assert keys.verifier_key.startswith("example.org/log+")


def test_key_files_readable_by_others_or_missing_are_refused(tmp_path: Path) -> None:
    create_keys(tmp_path)
    (tmp_path / "log-hmac.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keys(tmp_path)
    with pytest.raises(ConfigError, match="pars init"):
        load_keys(tmp_path / "nowhere")


def test_key_dir_and_origin_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARS_KEY_DIR", str(tmp_path / "env-keys"))
    monkeypatch.setenv("PARS_LOG_ORIGIN", "city.example/pars")
    keys, _ = create_keys()
    assert (tmp_path / "env-keys" / "log-signing.key").exists()
    assert keys.name == "city.example/pars"
    monkeypatch.setenv("PARS_LOG_ORIGIN", "has space")
    with pytest.raises(ConfigError):
        create_keys(tmp_path / "other")


def test_time_needs_a_timezone() -> None:
    with pytest.raises(InvalidInput, match="time"):
        _entry(time=datetime(2018, 1, 1))


def test_entry_time_is_exposed_as_aware_utc() -> None:
    assert _entry().time == datetime(2018, 9, 1, 3, 59, 59, tzinfo=UTC)


def test_object_values_are_hashed_even_under_non_personal_names() -> None:
    e = _entry(filters={"district": {"last_name": "Doe"}, "grade": ["F1", "F2"]})
    assert e.document["filters"]["district"].startswith("hmac-sha256:")
    assert e.document["filters"]["grade"] == ["F1", "F2"]
    assert b"Doe" not in e.canonical


# --- every refusal by its exact message, every bound at its edge ---------------------------

_HMAC_OK = "hmac-sha256:" + "0" * 64


def _refusal(doc: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as info:
        AuditEntry.from_document(doc)
    return str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("v", 3, "v: must be one of [1, 2]"),
        ("v", True, "v: must be one of [1, 2]"),
        ("time", "yesterday", "time: not an ISO 8601 time with an offset"),
        ("time", "2018-06-01T14:03:00", "time: not an ISO 8601 time with an offset"),
        ("time", 5, "time: must be UTC to the second, like 2018-08-31T23:59:59+00:00"),
        ("kind", "other", "kind: must be access or admin"),
        ("decision", None, "decision: must be allow, deny or error"),
        ("action", "", "action: must be a non-empty string"),
        ("action", 5, "action: must be a non-empty string"),
        ("status", "ok", "status: must be an HTTP status code"),
        ("status", True, "status: must be an HTTP status code"),
        ("status", 99, "status: must be an HTTP status code"),
        ("status", 600, "status: must be an HTTP status code"),
        ("arrest_ids", "A-1", "arrest_ids: must be a list of strings"),
        ("person_ids", [1], "person_ids: must be a list of strings"),
        ("fields", None, "fields: must be a list of strings"),
        ("filters", [], "filters: must be an object"),
        (
            "filters",
            {"last_name": "Doe"},
            "filters.last_name: personal values are logged only as hmac-sha256:<hex>",
        ),
        (
            "filters",
            {"nick": [_HMAC_OK, "x"]},
            "filters.nick: personal values are logged only as hmac-sha256:<hex>",
        ),
        (
            "filters",
            {"ssn": _HMAC_OK + "0"},
            "filters.ssn: personal values are logged only as hmac-sha256:<hex>",
        ),
        ("filters", {"ssn": 5}, "filters.ssn: personal values are logged only as hmac-sha256:<hex>"),
        ("detail", "text", "detail: must be an object"),
        ("violations", "a.b", "violations: must be a list of rule names"),
        ("violations", ["Bad Rule"], "violations: must be a list of rule names"),
        ("violations", [1], "violations: must be a list of rule names"),
        ("extra", 1, "extra: not an audit entry key"),
    ],
)
def test_entry_refusals_say_why(key: str, value: object, message: str) -> None:
    doc = dict(_entry().document)
    doc[key] = value
    assert _refusal(doc) == message


def test_entry_bounds_and_accepted_shapes() -> None:
    doc = dict(_entry().document)
    for status in (100, 599):
        assert AuditEntry.from_document({**doc, "status": status}).document["status"] == status
    hashed = {"ssn": None, "dob": [_HMAC_OK, _HMAC_OK], "last_name": _HMAC_OK}
    assert AuditEntry.from_document({**doc, "filters": hashed}).document["filters"] == hashed
    assert AuditEntry.from_document({**doc, "v": 1}).document["v"] == 1
    missing = {k: v for k, v in doc.items() if k != "status"}
    assert _refusal(missing) == "status: missing from the audit entry"
    with pytest.raises(InvalidInput) as info:
        _entry(time=datetime(2018, 1, 1))
    assert str(info.value) == "time: an audit entry time needs a timezone"
    assert _refusal({**doc, "detail": {"x": float("nan")}}).startswith("entry: not canonical JSON (")


def test_an_entry_may_fill_max_entry_bytes_and_not_one_more() -> None:
    doc = dict(_entry().document)
    base = len(AuditEntry.from_document({**doc, "detail": {"pad": ""}}).canonical)
    fits = {**doc, "detail": {"pad": "x" * (MAX_ENTRY_BYTES - base)}}
    assert len(AuditEntry.from_document(fits).canonical) == MAX_ENTRY_BYTES
    over = {**doc, "detail": {"pad": "x" * (MAX_ENTRY_BYTES - base + 1)}}
    with pytest.raises(EntryTooLarge) as info:
        AuditEntry.from_document(over)
    assert str(info.value) == f"entry: {MAX_ENTRY_BYTES + 1} bytes of canonical JSON, over {MAX_ENTRY_BYTES}"


def _opens(e: AuditEntry, key: str, value: str, text: str) -> None:
    """``value`` is SHA-256(salt ‖ text) of the text kept under ``key``, computed here."""
    kept = e.texts[key]
    assert kept.text == text and len(kept.salt) == 16
    assert value == "sha256:" + hashlib.sha256(kept.salt + text.encode()).hexdigest()


def test_codes_stay_clear_and_free_text_is_committed() -> None:
    e = _entry(purpose="C", warrant="W-2018/17", case_number="C-1", justification="ongoing case")
    assert (e.document["purpose"], e.document["warrant"]) == ("C", "W-2018/17")
    _opens(e, "case_number", e.document["case_number"], "C-1")  # always committed
    _opens(e, "justification", e.document["justification"], "ongoing case")
    assert set(e.texts) == {"case_number", "justification"}
    prose = _entry(purpose="look for my neighbour", warrant="the judge said so", case_number=None)
    _opens(prose, "purpose", prose.document["purpose"], "look for my neighbour")
    _opens(prose, "warrant", prose.document["warrant"], "the judge said so")
    assert prose.document["case_number"] is None and "case_number" not in prose.texts
    none = _entry(purpose=None, justification=None)
    assert none.document["purpose"] is None and none.document["justification"] is None
    # Free text is kept to MAX_TEXT characters; a lone surrogate becomes "?".
    long = _entry(justification="y" * (MAX_TEXT + 5) + "\ud800")
    _opens(long, "justification", long.document["justification"], "y" * MAX_TEXT)
    odd = _entry(justification="a\ud800b")
    _opens(odd, "justification", odd.document["justification"], "a?b")


def test_filter_values_clear_up_to_max_clear_then_committed() -> None:
    e = _entry(
        filters={
            "grade": "g" * MAX_CLEAR,
            "statute": "s" * (MAX_CLEAR + 1),
            "district": ["d1", "x" * (MAX_CLEAR + 1), ["nested"]],
            "bail_amount": Decimal("2.50"),
            "facility": 1.5,
            "sex": True,
            "race": None,
            "arrested_at": date(2018, 1, 2),
        }
    )
    f = e.document["filters"]
    assert f["grade"] == "g" * MAX_CLEAR
    _opens(e, "filters.statute", f["statute"], "s" * (MAX_CLEAR + 1))
    assert f["district"][0] == "d1"
    _opens(e, "filters.district.1", f["district"][1], "x" * (MAX_CLEAR + 1))
    _opens(e, "filters.district.2", f["district"][2], "['nested']")
    assert (f["bail_amount"], f["facility"], f["sex"], f["race"]) == ("2.50", "1.5", True, None)
    assert f["arrested_at"] == "2018-01-02"


def test_arrest_ids_in_clear_only_in_the_booking_form() -> None:
    e = _entry(filters={"arrest_id": "A-2018-000001"})
    assert e.document["filters"]["arrest_id"] == "A-2018-000001" and not [k for k in e.texts if "arrest" in k]
    bad = _entry(filters={"arrest_id": "John Doe's arrest"})
    _opens(bad, "filters.arrest_id", bad.document["filters"]["arrest_id"], "John Doe's arrest")
    many = _entry(filters={"arrest_id": ["A-1", "not an id"]})
    assert many.document["filters"]["arrest_id"][0] == "A-1"
    _opens(many, "filters.arrest_id.1", many.document["filters"]["arrest_id"][1], "not an id")
    # Only the arrest_id filter is held to that form.
    assert _entry(filters={"grade": "F 1!"}).document["filters"]["grade"] == "F 1!"


def test_lists_filters_and_sort_keys_are_bounded() -> None:
    names = ["grade", "statute", "district", "facility", "race", "sex", "agency", "arrest_type", "bail_type"]
    names += ["commissioner", "decision", "description", "disposition", "held_at", "country_of_origin"]
    names += ["person_id", "released_at"]  # 17 known, non-personal names
    e = _entry(filters={n: "v" for n in names})
    assert list(e.document["filters"]) == names[:MAX_FILTERS]
    listed = _entry(filters={"grade": [str(i) for i in range(MAX_LIST + 3)], "dob": ["1990-01-01"] * 30})
    assert listed.document["filters"]["grade"] == [str(i) for i in range(MAX_LIST)]
    assert listed.document["filters"]["dob"] == [keyed_hash("dob", "1990-01-01", KEY)] * MAX_LIST
    sort = _entry(sort=["-arrested_at", "nickname", *["grade"] * 10])
    keys = sort.document["sort"]
    assert len(keys) == MAX_SORT and keys[0] == "-arrested_at" and keys[2:] == ["grade"] * (MAX_SORT - 2)
    _opens(sort, "sort.1", keys[1], "nickname")
    assert _entry(sort=None).document["sort"] is None


def test_personal_values_none_lists_and_objects() -> None:
    e = _entry(filters={"ssn": None, "last_name": ["Doe", "Roe"], "dob": {"b": 2, "a": 1}})
    f = e.document["filters"]
    assert f["ssn"] is None
    assert f["last_name"] == [keyed_hash("last_name", "Doe", KEY), keyed_hash("last_name", "Roe", KEY)]
    assert f["dob"] == keyed_hash("dob", [("a", 1), ("b", 2)], KEY)


def test_keyed_hash_is_hmac_sha256_of_name_nul_and_normalised_value() -> None:
    mac = hmac.new(KEY, b"last_name\x00obrien", hashlib.sha256).hexdigest()
    assert keyed_hash("last_name", "O'Brien ", KEY) == "hmac-sha256:" + mac
    mac = hmac.new(KEY, b"grade\x00F1", hashlib.sha256).hexdigest()
    assert keyed_hash("grade", " F1 ", KEY) == "hmac-sha256:" + mac


def test_unknown_rule_names_are_committed() -> None:
    e = _entry(rule="filters.unknown.nickname", decision="deny", status=403)
    assert e.document["rule"].startswith("filters.unknown.sha256:")
    _opens(e, "rule", e.document["rule"].removeprefix("filters.unknown."), "nickname")
    s = _entry(rule="sort.unknown.shoe size", decision="deny", status=403)
    _opens(s, "rule", s.document["rule"].removeprefix("sort.unknown."), "shoe size")
    assert _entry(rule="search.forbid_filters.race").document["rule"] == "search.forbid_filters.race"
    assert _entry(rule=None).document["rule"] is None


def test_violations_and_detail_only_when_there_is_something_to_say() -> None:
    assert "violations" not in _entry(violations=["a.b"]).document
    assert _entry(violations=["a.b", "c.d"]).document["violations"] == ["a.b", "c.d"]
    assert "detail" not in _entry().document
    assert _entry(detail={}).document["detail"] == {}


def test_with_texts_takes_only_texts_that_open_their_commitments() -> None:
    e = _entry(justification="ongoing case")
    assert e.with_texts(e.texts).texts == e.texts
    wrong = {"justification": Text("other case", e.texts["justification"].salt)}
    with pytest.raises(InvalidInput) as info:
        e.with_texts(wrong)
    assert str(info.value) == "texts.justification: does not open the entry's commitment"


def test_entry_accessors() -> None:
    e = _entry(agreement_id=None, user=None, kind="admin", action="approve")
    assert (e.kind, e.agreement_id, e.user) == ("admin", None, None)
    e = _entry()
    assert (e.kind, e.agreement_id, e.user) == ("access", "ice-2017", "agent7")


def test_version_1_filters_as_they_were_logged() -> None:
    got = hash_filters({"last_name": "Doe", "grade": ["F1", 2.5], "Bad Name": "x", "district": {"a": 1}}, KEY)
    assert got == {
        "last_name": keyed_hash("last_name", "Doe", KEY),
        "grade": ["F1", "2.5"],
        keyed_hash("filter_name", "Bad Name", KEY): keyed_hash("Bad Name", "x", KEY),
        "district": keyed_hash("district", [("a", 1)], KEY),
    }


def test_entry_times_are_utc_whatever_the_servers_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        e = _entry()
        assert e.document["time"] == "2018-09-01T03:59:59+00:00"
        assert e.time.utcoffset() == timedelta(0)
        doc = {**e.document, "time": "2018-06-01T14:03:00-04:00"}
        assert AuditEntry.from_document(doc).time.utcoffset() == timedelta(0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


class _NoOffset(tzinfo):
    """A zone that does not know its offset: as good as none."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_a_zone_without_an_offset_is_no_zone() -> None:
    with pytest.raises(InvalidInput) as info:
        _entry(time=datetime(2018, 1, 1, tzinfo=_NoOffset()))
    assert str(info.value) == "time: an audit entry time needs a timezone"


def test_odd_values_hash_and_commit_as_they_are() -> None:
    # A lone surrogate is hashed as its UTF-8 bytes (surrogatepass), never an error.
    mac = hmac.new(KEY, b"grade\x00a\xed\xa0\x80", hashlib.sha256).hexdigest()
    assert keyed_hash("grade", "a\ud800", KEY) == "hmac-sha256:" + mac
    # Object values are hashed as their items sorted by their text: keys of any type.
    odd = {1: "x", "a": "y", "a!": "z"}
    e = _entry(filters={"district": odd})
    assert e.document["filters"]["district"] == keyed_hash(
        "district", [("a!", "z"), ("a", "y"), (1, "x")], KEY
    )
    # An empty free text is committed as the empty text.
    empty = _entry(justification="")
    _opens(empty, "justification", empty.document["justification"], "")
