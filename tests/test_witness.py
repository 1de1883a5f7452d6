"""The witness (tlog-witness add-checkpoint, tlog-cosignature v1) against every rule it must keep.

The custodian holds the log key: it can sign any checkpoint it likes, so every
attack here (fork, cut, rollback, racing) uses validly signed checkpoints and
must still be refused.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pars.audit.cosignature import CosignerKey, valid_cosignatures, verify_cosignature
from pars.audit.merkle import EMPTY_ROOT
from pars.audit.note import parse_signer_key, public_key_bytes, sign_checkpoint
from pars.errors import ConfigError
from pars.witness.app import create_app
from pars.witness.client import Conflict, Cosigned, Refused, Unreachable, add_checkpoint, request_body
from pars.witness.core import StateFile, Witness
from tests.c2sp_support import MemoryLog

NAME = "witness.example/test"


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog().grow(300)


@pytest.fixture
def wkey() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witness(tmp_path: Path, log: MemoryLog, wkey: Ed25519PrivateKey) -> Witness:
    return Witness(NAME, wkey, [log.vkey], StateFile(tmp_path / "state.json"), clock=lambda: 1_800_000_000)


def post(w: Witness, old: int, proof: list[bytes], note: str) -> tuple[int, str, str]:
    a = w.add_checkpoint(request_body(old, proof, note))
    return a.status, a.content_type, a.body.decode()


def test_first_checkpoint_is_cosigned_and_on_disk(witness: Witness, log: MemoryLog, tmp_path: Path) -> None:
    note = log.checkpoint(7)
    status, _, body = post(witness, 0, [], note)
    assert status == 200, body
    assert body.startswith("\u2014 " + NAME + " ") and body.endswith("\n") and body.count("\n") == 1
    assert verify_cosignature(note + body, witness.key) == 1_800_000_000
    saved = json.loads((tmp_path / "state.json").read_text())["logs"][log.origin]
    assert saved["size"] == 7 and base64.b64decode(saved["root"]) == log.root(7)
    # A fresh process reading the file knows what was cosigned.
    again = StateFile(tmp_path / "state.json").load()[log.origin]
    assert (again.size, again.root) == (7, log.root(7))


def test_growth_needs_a_consistency_proof_from_the_cosigned_size(witness: Witness, log: MemoryLog) -> None:
    assert post(witness, 0, [], log.checkpoint(7))[0] == 200
    assert post(witness, 7, log.consistency(7, 256), log.checkpoint(256))[0] == 200
    assert post(witness, 256, log.consistency(256, 300), log.checkpoint(300))[0] == 200
    # The same checkpoint again: same size, same root, no proof -> cosigned again.
    assert post(witness, 300, [], log.checkpoint(300))[0] == 200
    state = witness.cosigned(log.origin)
    assert state is not None and state.size == 300


def test_stale_old_size_is_409_with_the_cosigned_size(witness: Witness, log: MemoryLog) -> None:
    post(witness, 0, [], log.checkpoint(7))
    for old in (0, 5, 6, 8):
        status, ctype, body = post(witness, old, log.consistency(old, 256), log.checkpoint(256))
        assert (status, ctype, body) == (409, "text/x.tlog.size", "7\n")


def test_a_fork_of_a_cosigned_size_is_refused(witness: Witness, log: MemoryLog) -> None:
    post(witness, 0, [], log.checkpoint(7))
    fork = MemoryLog(log.origin, log.key).grow(7, tag=b"rewritten")
    status, _, body = post(witness, 7, [], fork.checkpoint(7))
    assert status == 422 and "another root" in body
    # ... and a fork that grows past it has no valid proof from the cosigned root.
    fork.grow(256, tag=b"rewritten")
    assert post(witness, 7, fork.consistency(7, 256), fork.checkpoint(256))[0] == 422
    state = witness.cosigned(log.origin)
    assert state is not None and state.root == log.root(7)
    # Both signed forks are kept as evidence beside the state.
    refused = [json.loads(line) for line in witness.state.refused_path.read_text().splitlines()]
    assert [r["checkpoint"] for r in refused] == [fork.checkpoint(7), fork.checkpoint(256)]


def test_a_cut_log_is_refused(witness: Witness, log: MemoryLog) -> None:
    post(witness, 0, [], log.checkpoint(256))
    assert post(witness, 256, [], log.checkpoint(200))[0] == 400  # old above the checkpoint's size
    assert post(witness, 0, [], log.checkpoint(200)) == (409, "text/x.tlog.size", "256\n")
    assert post(witness, 200, [], log.checkpoint(200))[0] == 409
    refused = witness.state.refused_path.read_text().splitlines()
    assert len(refused) == 3 and all(json.loads(r)["checkpoint"] == log.checkpoint(200) for r in refused)
    # A stale but honest request (a bigger tree from an old size) is no evidence of anything.
    assert post(witness, 7, log.consistency(7, 300), log.checkpoint(300))[0] == 409
    assert len(witness.state.refused_path.read_text().splitlines()) == 3


def test_422_cases(witness: Witness, log: MemoryLog) -> None:
    wrong_empty = sign_checkpoint(log.origin, 0, sha256(b"x").digest(), log.origin, log.key).note
    assert post(witness, 0, [], wrong_empty)[0] == 422
    assert post(witness, 0, [log.leaves[0]], log.checkpoint(7))[0] == 422  # proof with old size 0
    empty = sign_checkpoint(log.origin, 0, EMPTY_ROOT, log.origin, log.key).note
    assert post(witness, 0, [], empty)[0] == 200
    post(witness, 0, [], log.checkpoint(7))
    bad = log.consistency(7, 256)
    bad[0] = bytes(32)
    assert post(witness, 7, bad, log.checkpoint(256))[0] == 422
    assert post(witness, 7, log.consistency(7, 256)[:-1], log.checkpoint(256))[0] == 422
    assert post(witness, 7, [log.leaves[0]], log.checkpoint(7))[0] == 422  # same size takes no proof


def test_signature_and_origin_rules(witness: Witness, log: MemoryLog) -> None:
    other = MemoryLog("other.example/log").grow(3)
    assert post(witness, 0, [], other.checkpoint())[0] == 404
    impostor = MemoryLog(log.origin).grow(7)  # same origin, a key the witness does not trust
    status, _, body = post(witness, 0, [], impostor.checkpoint())
    assert status == 403, body
    note = log.checkpoint(7)
    sig_at = note.index("\u2014")
    line = note[sig_at:]
    name, b64 = line[2:-1].split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    tampered = note[:sig_at] + f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    assert post(witness, 0, [], tampered)[0] == 403
    # An unknown signer beside the log's valid signature is ignored.
    extra = note + "\u2014 someone.else AAAAAAAAAAAAAAAA\n"
    assert post(witness, 0, [], extra)[0] == 200
    assert witness.cosigned(log.origin) is not None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old 00\n\nx\n",
        b"old -1\n\nx\n",
        b"new 0\n\nx\n",
        b"old 0 \n\nx\n",
        b"old 0\nnot base64!\n\n",
        b"old 0\n" + base64.b64encode(b"short") + b"\n\n",
        b"old 0\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n",
        b"\xff\xfe",
    ],
)
def test_malformed_requests_are_400(witness: Witness, log: MemoryLog, body: bytes) -> None:
    if body.endswith(b"\n\n") or body.endswith(b"x\n"):
        body += log.checkpoint(7).encode()
    answer = witness.add_checkpoint(body)
    assert answer.status == 400, answer.body
    assert witness.cosigned(log.origin) is None


def test_state_file_corrupt_or_locked_stops_the_witness(tmp_path: Path, log: MemoryLog) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        Witness(NAME, Ed25519PrivateKey.generate(), [log.vkey], StateFile(path))
    first = StateFile(tmp_path / "s2.json")
    first.lock()
    try:
        with pytest.raises(ConfigError, match="another witness"):
            StateFile(tmp_path / "s2.json").lock()
    finally:
        first.close()
    again = StateFile(tmp_path / "s2.json")
    again.lock()  # released by close()
    again.close()


def test_kat_cosignature_byte_for_byte(tmp_path: Path, kat: dict[str, Any]) -> None:
    """Configured with the KAT's keys and clock, the witness returns the KAT's own line."""
    log_vkey = kat["log"]["verifier_key"]
    courts = kat["witnesses"][0]
    name, key = parse_signer_key(courts["signer_key"])
    for cp in kat["checkpoints"]:
        w = Witness(
            name,
            key,
            [log_vkey],
            StateFile(tmp_path / f"{cp['size']}.json"),
            clock=functools.partial(float, cp["cosignature_timestamps"][0]),  # the KAT's time, always
        )
        status, _, body = post(w, 0, [], cp["signed"])
        assert status == 200
        assert body in cp["cosigned"]
        assert str(w.key) == courts["verifier_key_cosignature"]


@pytest.fixture
def kat() -> dict[str, object]:
    import os

    d = Path(os.environ.get("PARS_VECTORS_DIR", Path(__file__).resolve().parents[2] / "shared" / "vectors"))
    f = d / "c2sp_kat.json"
    if not f.is_file():
        if os.environ.get("PARS_REQUIRE_VECTORS"):
            pytest.fail(f"{f} missing (PARS_REQUIRE_VECTORS is set)")
        pytest.skip(f"C2SP vectors not found at {f}; set PARS_VECTORS_DIR")
    data: dict[str, object] = json.loads(f.read_text())
    return data


def test_concurrent_conflicting_requests_cosign_one_tree_per_size(witness: Witness, log: MemoryLog) -> None:
    """Racing forks of one size, all validly signed: exactly one tree gets cosigned."""
    forks = [MemoryLog(log.origin, log.key).grow(64, tag=b"fork%d" % i) for i in range(8)]
    barrier = threading.Barrier(len(forks) * 3)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def submit(f: MemoryLog) -> None:
        barrier.wait()
        a = witness.add_checkpoint(request_body(0, [], f.checkpoint(64)))
        with lock:
            results.append((a.status, f.root(64)))

    threads = [threading.Thread(target=submit, args=(f,)) for f in forks for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok_roots = {root for status, root in results if status == 200}
    assert len(ok_roots) == 1
    assert all(status in (200, 409, 422) for status, _ in results)
    state = witness.cosigned(log.origin)
    assert state is not None and state.root in ok_roots


# -- over HTTP, with the log's client ---------------------------------------------------------


def test_client_and_app_speak_the_protocol(witness: Witness, log: MemoryLog, wkey: Ed25519PrivateKey) -> None:
    import asyncio

    vkey = str(CosignerKey.of(NAME, public_key_bytes(wkey)))
    transport = httpx.ASGITransport(app=create_app(witness))

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as c:
            r = await c.post("/add-checkpoint", content=request_body(0, [], log.checkpoint(7)))
            assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
            r = await c.post("/add-checkpoint", content=request_body(0, [], log.checkpoint(9)))
            assert r.status_code == 409 and r.headers["content-type"] == "text/x.tlog.size"
            assert r.text == "7\n"
            r = await c.get(f"/{sha256(log.origin.encode()).hexdigest()}/checkpoint")
            assert r.status_code == 200 and valid_cosignatures(r.text, [vkey])
            assert (await c.get(f"/{sha256(b'nope').hexdigest()}/checkpoint")).status_code == 404
            big = await c.post("/add-checkpoint", content=b"old 0\n" + b"A" * 70_000)
            assert big.status_code == 413
            assert (await c.get("/add-checkpoint")).status_code == 405

    asyncio.run(run())


def test_client_classifies_every_answer(tmp_path: Path, log: MemoryLog, wkey: Ed25519PrivateKey) -> None:
    import asyncio

    w = Witness(NAME, wkey, [log.vkey], StateFile(tmp_path / "s.json"))
    vkey = str(CosignerKey.of(NAME, public_key_bytes(wkey)))
    app = create_app(w)

    def sync_transport() -> httpx.MockTransport:
        # httpx's ASGITransport is async-only; run the app per request for the sync client.
        def handle(request: httpx.Request) -> httpx.Response:
            async def go() -> httpx.Response:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://w"
                ) as c:
                    r = await c.request(request.method, request.url.path, content=request.content)
                    return httpx.Response(r.status_code, headers=r.headers, content=r.content)

            return asyncio.run(go())

        return httpx.MockTransport(handle)

    with httpx.Client(transport=sync_transport()) as c:
        a = add_checkpoint("http://w/", 0, [], log.checkpoint(7), timeout=5, witness_key=vkey, client=c)
        assert isinstance(a, Cosigned) and len(a.lines) == 1
        assert verify_cosignature(log.checkpoint(7) + a.lines[0], vkey)
        a = add_checkpoint("http://w", 0, [], log.checkpoint(9), timeout=5, client=c)
        assert a == Conflict(7)
        a = add_checkpoint("http://w", 7, log.consistency(7, 9), log.checkpoint(9), timeout=5, client=c)
        assert isinstance(a, Cosigned)
        a = add_checkpoint("http://w", 9, [], MemoryLog(log.origin).grow(9).checkpoint(), timeout=5, client=c)
        assert isinstance(a, Refused) and a.status == 403
        # A witness key that is not the one answering: its lines are not accepted.
        other = str(CosignerKey.of(NAME, public_key_bytes(Ed25519PrivateKey.generate())))
        a = add_checkpoint("http://w", 9, [], log.checkpoint(9), timeout=5, witness_key=other, client=c)
        assert isinstance(a, Refused) and a.status == 200
    a = add_checkpoint("http://127.0.0.1:9", 0, [], log.checkpoint(7), timeout=1)
    assert isinstance(a, Unreachable)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.binary(max_size=200), tail=st.sampled_from(["", "old 0\n\n", "old 7\n\n"]))
def test_no_body_crashes_the_witness(witness: Witness, log: MemoryLog, head: bytes, tail: str) -> None:
    for body in (head, tail.encode() + head, tail.encode() + log.checkpoint(7).encode() + head):
        assert witness.add_checkpoint(body).status in (200, 400, 403, 404, 409, 413, 422)
