"""Audit entries, keyed hashes of personal filters, signed checkpoints and key files."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta, timezone
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
from pars.audit.entry import KEYS
from pars.audit.note import public_key_bytes
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
