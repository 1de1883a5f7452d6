"""``pars audit monitor``: forks and cuts are caught from the public tiles; the kept state never moves back.

The log here is built in memory (``tests.c2sp_support``) and its tiles are computed
independently of the monitor, from ``pars.audit.tiles.levels``; the custodian holds
the log key, so forks and cuts are validly signed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from pars.audit.monitor import MonitorError, TileReader, check, keep, load_kept, monitor, verify_latest
from pars.cli import app
from tests.c2sp_support import MemoryLog


class Served:
    """What a (possibly lying) log serves: a checkpoint and tiles by path."""

    def __init__(self, log: MemoryLog, size: int) -> None:
        self.set(log, size)
        self.fetched: list[str] = []

    def set(self, log: MemoryLog, size: int, tiles_at: int | None = None) -> None:
        self.note = log.checkpoint(size)
        self.tiles = log.tiles(size if tiles_at is None else tiles_at)

    def fetch(self, path: str) -> bytes:
        self.fetched.append(path)
        if path not in self.tiles:
            raise MonitorError("fetch", f"{path} answered 404")
        return self.tiles[path]


def run(served: Served, log: MemoryLog, kept: str | None) -> str:
    return check(kept, served.note, log.vkey, served.fetch).checkpoint.note


def test_growth_across_tile_levels_is_consistent() -> None:
    log = MemoryLog().grow(70_000)
    served = Served(log, 7)
    kept = run(served, log, None)
    for size in (7, 8, 255, 256, 257, 300, 65_535, 65_536, 66_000, 70_000):
        served.set(log, size)
        result = check(kept, served.note, log.vkey, served.fetch)
        assert result.previous_size is not None and result.checkpoint.size == size
        kept = result.checkpoint.note
    assert "tile/2/000.p/1" in served.fetched  # the height-16 subtree, from a level 2 partial tile
    assert any(".p/" in p for p in served.fetched)


def test_same_checkpoint_is_unchanged_and_needs_no_tiles() -> None:
    log = MemoryLog().grow(300)
    served = Served(log, 300)
    kept = run(served, log, None)
    served.fetched.clear()
    assert check(kept, served.note, log.vkey, served.fetch).status == "same"
    assert served.fetched == []


def test_a_cut_is_named() -> None:
    log = MemoryLog().grow(300)
    served = Served(log, 300)
    kept = run(served, log, None)
    served.set(log, 200)  # the custodian deleted the tail and re-signed a smaller head
    with pytest.raises(MonitorError, match=r"cut: the log shrank from 300 to 200") as info:
        run(served, log, kept)
    assert info.value.exit_code == 1


def test_a_fork_of_the_same_size_is_named() -> None:
    log = MemoryLog().grow(300)
    served = Served(log, 300)
    kept = run(served, log, None)
    fork = MemoryLog(log.origin, log.key).grow(300, tag=b"rewritten")
    served.set(fork, 300)
    with pytest.raises(MonitorError, match="fork: size 300 now has root"):
        run(served, log, kept)


def test_a_rewritten_history_that_grew_is_a_fork() -> None:
    log = MemoryLog().grow(300)
    served = Served(log, 300)
    kept = run(served, log, None)
    fork = MemoryLog(log.origin, log.key).grow(200)
    fork.grow(600, tag=b"rewritten")  # entries 200.. replaced, then more appended
    served.set(fork, 600)
    with pytest.raises(
        MonitorError, match="fork: the tree of size 600 does not extend the kept tree of size 300"
    ):
        run(served, log, kept)


def test_tiles_that_lie_do_not_pass() -> None:
    log = MemoryLog().grow(600)
    served = Served(log, 300)
    kept = run(served, log, None)
    served.set(log, 600)
    path = next(p for p in served.tiles if p.startswith("tile/0/001"))
    served.tiles[path] = bytes(len(served.tiles[path]))
    with pytest.raises(MonitorError, match="fork"):
        run(served, log, kept)
    served.set(log, 600)
    served.tiles["tile/0/001"] = served.tiles["tile/0/001"][:-1]
    with pytest.raises(MonitorError, match="tiles: tile/0/001 holds 8191 bytes"):
        run(served, log, kept)


def test_signature_and_origin_are_checked() -> None:
    log = MemoryLog().grow(10)
    impostor = MemoryLog(log.origin).grow(10)
    with pytest.raises(MonitorError, match="signature"):
        verify_latest(impostor.checkpoint(), log.vkey)
    other = MemoryLog("other.example/log", log.key).grow(10)
    with pytest.raises(MonitorError, match="signature"):
        verify_latest(other.checkpoint(), log.vkey)


def test_a_deleted_partial_tile_falls_back_to_the_full_one() -> None:
    log = MemoryLog().grow(512)
    reader = TileReader(300, lambda path: log.tiles(512)["tile/0/001"] if path == "tile/0/001.p/44" else b"")
    assert len(reader.tile(0, 1)) == 44 * 32


def test_state_file_keeps_the_checkpoint_verbatim(tmp_path: Path) -> None:
    log = MemoryLog().grow(9)
    state = tmp_path / "kept.checkpoint"
    assert load_kept(state) is None
    keep(state, verify_latest(log.checkpoint(), log.vkey))
    assert state.read_text() == log.checkpoint()


# -- over HTTP: the CLI against a served log ---------------------------------------------------


def tile_app(served: Served) -> Starlette:
    async def checkpoint(_: Request) -> Response:
        return Response(served.note, media_type="text/plain; charset=utf-8")

    async def tile(request: Request) -> Response:
        path = "tile/" + request.path_params["path"]
        if path not in served.tiles:
            return Response("not found", status_code=404)
        return Response(served.tiles[path], media_type="application/octet-stream")

    return Starlette(routes=[Route("/log/checkpoint", checkpoint), Route("/log/tile/{path:path}", tile)])


@contextmanager
def serve_in_thread(asgi: Starlette) -> Iterator[str]:
    config = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/log"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_cli_follows_growth_and_fails_on_a_cut(tmp_path: Path) -> None:
    runner = CliRunner()
    log = MemoryLog().grow(600)
    served = Served(log, 256)
    state = tmp_path / "kept.checkpoint"
    with serve_in_thread(tile_app(served)) as url:
        first = runner.invoke(app, ["audit", "monitor", url, "--key", log.vkey, "--state", str(state)])
        assert first.exit_code == 0, first.output
        assert "size 256" in first.stdout and "first checkpoint kept" in first.stdout
        served.set(log, 600)
        grew = runner.invoke(
            app, ["audit", "monitor", url, "--key", log.vkey, "--state", str(state), "--json"]
        )
        assert grew.exit_code == 0, grew.output
        assert json.loads(grew.stdout)["status"] == "grew" and json.loads(grew.stdout)["previous_size"] == 256
        served.set(log, 500)
        cut = runner.invoke(app, ["audit", "monitor", url, "--key", log.vkey, "--state", str(state)])
        assert cut.exit_code != 0 and getattr(cut.exception, "exit_code", None) == 1
        assert "cut: the log shrank from 600 to 500" in str(cut.exception)
        assert state.read_text() == log.checkpoint(600)  # the kept checkpoint did not move back
    gone = runner.invoke(app, ["audit", "monitor", url, "--key", log.vkey, "--state", str(state)])
    assert getattr(gone.exception, "exit_code", None) == 3 and "fetch" in str(gone.exception)


def test_monitor_with_a_client(tmp_path: Path) -> None:
    log = MemoryLog().grow(40)
    served = Served(log, 40)
    transport = httpx.MockTransport(
        lambda r: (
            httpx.Response(200, content=served.note.encode())
            if r.url.path == "/log/checkpoint"
            else httpx.Response(200, content=served.tiles.get(r.url.path.removeprefix("/log/"), b""))
        )
    )
    with httpx.Client(transport=transport) as client:
        assert monitor("http://x/log/", log.vkey, tmp_path / "s", client).status == "first"
        served.set(log.grow(41), 41)
        assert monitor("http://x/log", log.vkey, tmp_path / "s", client).status == "grew"


def test_tiles_must_hash_to_the_signed_root_even_on_the_first_run() -> None:
    log = MemoryLog().grow(300)
    served = Served(log, 300)
    other = MemoryLog(log.origin, log.key).grow(300, tag=b"shown to auditors")
    served.tiles = other.tiles(300)  # signed one tree, serves another
    with pytest.raises(MonitorError, match="tiles: the hash tiles of size 300 do not hash to the signed"):
        run(served, log, None)


def test_witness_quorum_on_the_latest_checkpoint() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pars.audit.cosignature import CosignerKey, cosign
    from pars.audit.note import parse_note, public_key_bytes

    log = MemoryLog().grow(300)
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    vkeys = [str(CosignerKey.of(f"w{i}.example", public_key_bytes(k))) for i, k in enumerate(keys)]
    served = Served(log, 300)
    text = parse_note(served.note).text
    one = served.note + cosign(text, "w0.example", keys[0], 1_800_000_000)
    both = one + cosign(text, "w1.example", keys[1], 1_800_000_001)
    assert check(None, both, log.vkey, served.fetch, vkeys).status == "first"
    assert check(None, one, log.vkey, served.fetch, vkeys, quorum=1).status == "first"
    with pytest.raises(MonitorError, match="witnesses: 1 of the required 2"):
        check(None, one, log.vkey, served.fetch, vkeys)
    with pytest.raises(MonitorError, match="witnesses"):
        check(None, served.note, log.vkey, served.fetch, vkeys, quorum=1)


_BIG = MemoryLog().grow(70_000)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_honest_growth_checks_out_from_the_tiles_of_the_new_size(data: st.DataObject) -> None:
    """Every (old, new) pair: the consistency proof built from the new size's tiles verifies,
    and only tiles that the new size implies are fetched."""
    new = data.draw(st.integers(1, 70_000) | st.sampled_from([256, 257, 65_536, 65_537]))
    old = data.draw(st.integers(1, new) | st.sampled_from([1, new, max(1, new - 1), new // 256 * 256 or 1]))
    served = Served(_BIG, new)
    result = check(_BIG.checkpoint(old), served.note, _BIG.vkey, served.fetch)
    assert result.previous_size == old and result.checkpoint.size == new
    assert set(served.fetched) <= set(served.tiles)
