"""Signed approvals (CONTRACT 9.1): a party's C2SP signed note approving one version.

The note text is exactly five lines, each ending in a newline::

    pars-approval/v1
    <the log's origin>
    <agreement id>
    <version hash, lowercase hex>
    <party>

followed by a blank line and one signature line by an Ed25519 key whose name is
the party. Party keys travel as signed-note key strings: the signer key
``PRIVATE+KEY+<name>+<keyid>+base64(0x01 ‖ seed)`` (as Go's sumdb/note writes it)
and the verifier key ``<name>+<keyid>+base64(0x01 ‖ public key)``.

    signer = SignerKey.generate("courts")
    note = sign_approval("example.gov/pars/audit", "ice-2017", version_hash, signer)
    approval = verify_approval(note, signer.verifier_key)   # raises ApprovalRefused

Pure (no store, no clock): an auditor checks who approved which version from the
log's entries alone. Rule: a note is accepted only if its text parses strictly,
its one signature is by a key named after the party line, and that signature
verifies against the key given; every refusal names its rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pars.audit.note import (
    SIG_PREFIX,
    CheckpointError,
    VerifierKey,
    b64decode_strict,
    parse_signer_key,
    public_key_bytes,
    sign_note,
    signer_key,
    verifier_key,
    verify_note,
)
from pars.errors import InvalidInput, ParsError

HEADER = "pars-approval/v1"
MAX_APPROVAL_NOTE = 4096
_HASH = re.compile(r"^[0-9a-f]{64}$")
_AGREEMENT_ID = re.compile(r"^[a-z0-9-]+$")
#: A party is a key name: no spaces, no "+", printable (signed-note rules), short.
_PARTY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# The rules a refused approval names (the HTTP error's ``rule``).
RULE_SIGNATURE = "approvals.signature"
RULE_NOTE = "approvals.note"
RULE_KEY_NAME = "approvals.key_name"
RULE_ORIGIN = "approvals.origin"
RULE_AGREEMENT = "approvals.agreement"
RULE_VERSION = "approvals.version"
RULE_OF = "approvals.of"
RULE_UNREGISTERED = "approvals.unregistered"
RULE_DUPLICATE = "approvals.duplicate"
RULE_SHARED_KEY = "parties.shared_key"


class ApprovalRefused(ParsError):
    """An approval (or a party key) that must not count; ``rule`` says which rule refused it."""

    code = "forbidden"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class MalformedNote(InvalidInput):
    """A note whose text is not the five approval lines (HTTP 422)."""

    rule = RULE_NOTE


def valid_party(party: str) -> bool:
    return isinstance(party, str) and bool(_PARTY.match(party))


def _check_party(party: str, what: str = "party") -> None:
    if not valid_party(party):
        raise InvalidInput(f"{what}: {party!r} is not a party name (letters, digits, _ . -; at most 64)")


@dataclass(frozen=True, slots=True)
class ApprovalNote:
    """What an approval note says: this party approves this version of this agreement in this log."""

    origin: str
    agreement_id: str
    version_hash: str
    party: str

    def text(self) -> str:
        """The five lines that get signed."""
        return approval_text(self.origin, self.agreement_id, self.version_hash, self.party)


def approval_text(origin: str, agreement_id: str, version_hash: str, party: str) -> str:
    """The note text; ``InvalidInput`` naming the field if one cannot go on its line."""
    if not origin or any(c.isspace() or not c.isprintable() for c in origin):
        raise InvalidInput("origin: a log origin is one printable word, like example.org/log")
    if not _AGREEMENT_ID.match(agreement_id or ""):
        raise InvalidInput(f"agreement id: {agreement_id!r} is not of the form [a-z0-9-]+")
    if not _HASH.match(version_hash or ""):
        raise InvalidInput("version: the version hash must be 64 lowercase hex digits")
    _check_party(party)
    return f"{HEADER}\n{origin}\n{agreement_id}\n{version_hash}\n{party}\n"


def parse_approval_text(text: str) -> ApprovalNote:
    """The five lines of an approval note's text, parsed strictly (signature not checked)."""
    if not text.endswith("\n"):
        raise MalformedNote("note: the approval text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 5:
        raise MalformedNote(f"note: an approval is exactly five lines, this text has {len(lines)}")
    header, origin, agreement_id, version_hash, party = lines
    if header != HEADER:
        raise MalformedNote(f"note: the first line must be {HEADER}")
    try:
        parsed = ApprovalNote(origin, agreement_id, version_hash, party)
        if parsed.text() != text:  # round trip: no padding, no other spelling of a line
            raise InvalidInput("note: a line is not in its one accepted form")
    except InvalidInput as exc:
        raise MalformedNote(f"note: {exc}") from None
    return parsed


@dataclass(frozen=True, slots=True)
class SignedApproval:
    """An approval note split into its claim and its one signature line (not yet verified)."""

    approval: ApprovalNote
    signer_name: str
    key_id: bytes
    note: str


def split_note(note: str) -> SignedApproval:
    """The claim and signer of ``note``; ``MalformedNote`` / ``ApprovalRefused`` if it cannot be one."""
    if not isinstance(note, str) or not note:
        raise MalformedNote("note: required, the signed approval note as text")
    if len(note) > MAX_APPROVAL_NOTE:
        raise MalformedNote(f"note: longer than {MAX_APPROVAL_NOTE} characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise MalformedNote("note: a signed note is its text, a blank line, then a signature line")
    approval = parse_approval_text(note[: split + 1])
    sig_lines = note[split + 2 : -1].split("\n")
    if len(sig_lines) != 1:
        raise ApprovalRefused(
            RULE_SIGNATURE, f"note: an approval carries exactly one signature, not {len(sig_lines)}"
        )
    line = sig_lines[0]
    name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
    try:
        if not line.startswith(SIG_PREFIX) or not sep or " " in b64:
            raise ValueError
        raw = b64decode_strict(b64)
    except ValueError:
        raise ApprovalRefused(RULE_SIGNATURE, "note: the signature line is malformed") from None
    if len(raw) != 68:
        raise ApprovalRefused(RULE_SIGNATURE, "note: the signature is not an Ed25519 key ID and signature")
    if name != approval.party:
        raise ApprovalRefused(
            RULE_KEY_NAME,
            f"note: signed by a key named {name!r} but approving as {approval.party!r}; "
            "a key approves only for the party it is named after",
        )
    return SignedApproval(approval, name, raw[:4], note)


def verify_approval(note: str, party_verifier_key: str) -> ApprovalNote:
    """The approval ``note`` states, if its signature verifies against the party's key.

    Raises ``MalformedNote`` (bad text) or ``ApprovalRefused`` (rule
    ``approvals.key_name`` or ``approvals.signature``).
    """
    signed = split_note(note)
    try:
        key = VerifierKey.parse(party_verifier_key)
    except CheckpointError as exc:
        raise ApprovalRefused(RULE_SIGNATURE, f"key: {exc}") from None
    if key.name != signed.approval.party:
        raise ApprovalRefused(
            RULE_KEY_NAME, f"key: named {key.name!r}, so it cannot approve as {signed.approval.party!r}"
        )
    if signed.key_id != key.key_id:
        raise ApprovalRefused(
            RULE_SIGNATURE,
            f"note: signed by key ID {signed.key_id.hex()}, not {signed.approval.party}'s "
            f"registered key {key.key_id.hex()}",
        )
    try:
        verify_note(note, party_verifier_key)
    except CheckpointError as exc:
        raise ApprovalRefused(
            RULE_SIGNATURE, f"note: {exc} with {signed.approval.party}'s registered key"
        ) from None
    return signed.approval


@dataclass(frozen=True)
class SignerKey:
    """A party's Ed25519 signing key under its name; repr never shows the secret."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        _check_party(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """``PRIVATE+KEY+<name>+<keyid>+base64(0x01 ‖ seed)`` named as a party; ``InvalidInput``
        otherwise (the signed-note parse is ``pars.audit.note``'s, shared with witness keys)."""
        try:
            name, private = parse_signer_key(text)
        except CheckpointError:
            raise InvalidInput("key: not a signer key PRIVATE+KEY+name+keyid+base64") from None
        if not valid_party(name):
            raise InvalidInput(f"key: the name {name!r} is not a party name (letters, digits, _ . -)")
        return cls(name, private)

    def text(self) -> str:
        """The signer key file's content (a secret: write it mode 0600)."""
        return signer_key(self.name, self.private_key) + "\n"

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.name, public_key_bytes(self.private_key))


def sign_approval(origin: str, agreement_id: str, version_hash: str, signer: SignerKey) -> str:
    """The signed approval note: ``signer`` approves, as the party it is named after."""
    return sign_note(
        approval_text(origin, agreement_id, version_hash, signer.name), signer.name, signer.private_key
    )


def parse_party_key(party: str, text: str) -> VerifierKey:
    """A party's verifier key, which must be Ed25519 and named after the party."""
    _check_party(party)
    try:
        key = VerifierKey.parse(text)
    except CheckpointError as exc:
        raise InvalidInput(f"key: {exc}") from None
    if key.name != party:
        raise ApprovalRefused(
            RULE_KEY_NAME,
            f"key: named {key.name!r}; a key that approves for {party!r} must be named {party!r}",
        )
    return key
