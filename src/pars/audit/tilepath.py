"""C2SP tlog-tiles resource paths and entry bundles.

Paths, relative to the log's prefix (``/log`` in PARS)::

    tile/<L>/<N>[.p/<W>]          hash tile at level L (0-63), index N
    tile/entries/<N>[.p/<W>]      entry bundle N

``N`` is written in zero-padded 3-digit elements, all but the last prefixed with
``x`` (1234067 is ``x001/x234/067``); ``.p/<W>`` (W in 1..255) marks a partial
tile. A bundle is its entries, each prefixed by its length as a big-endian uint16.

Usage::

    tile_path(0, 1234067, 5)          # 'tile/0/x001/x234/067.p/5'
    parse_tile_path("tile/entries/000")  # Tile(level=ENTRIES, index=0, width=256)
    decode_bundle(encode_bundle([b"a", b"bc"]))

Pure. Rule: parsing is strict: a path is accepted only in its one canonical
spelling (no ``x000/`` padding, no leading zeroes, no ``.p/256``), so one
resource never has two names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
MAX_LEVEL = 63
#: ``level`` of an entry bundle.
ENTRIES = -1
MAX_ENTRY_SIZE = 0xFFFF
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class TilePathError(ValueError):
    """A tile path or bundle that is not in the spec's form (the message says what)."""


@dataclass(frozen=True, slots=True)
class Tile:
    """One tlog-tiles resource: a hash tile (``level`` 0-63) or an entry bundle (``ENTRIES``)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        return self.level == ENTRIES

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)


def encode_index(n: int) -> str:
    """``N`` as zero-padded 3-digit path elements: 1234067 -> ``x001/x234/067``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise TilePathError("a tile index is a non-negative integer")
    out = f"{n % 1000:03d}"
    n //= 1000
    while n:
        out = f"x{n % 1000:03d}/{out}"
        n //= 1000
    return out


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """The path of a hash tile (``level`` 0-63) or, with ``level=ENTRIES``, an entry bundle."""
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise TilePathError(f"a tile width is between 1 and {TILE_WIDTH}")
    if level == ENTRIES:
        head = "tile/entries/"
    elif isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= MAX_LEVEL:
        head = f"tile/{level}/"
    else:
        raise TilePathError(f"a tile level is between 0 and {MAX_LEVEL}")
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return head + encode_index(index) + suffix


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return tile_path(ENTRIES, index, width)


def parse_tile_path(path: str) -> Tile:
    """The tile named by ``path`` (``tile/...``, relative to the log prefix); strict."""
    if not isinstance(path, str) or not path.startswith("tile/"):
        raise TilePathError("a tile path starts with tile/")
    rest = path[len("tile/") :]
    level_text, sep, rest = rest.partition("/")
    if not sep:
        raise TilePathError("a tile path is tile/<L>/<N>[.p/<W>]")
    if level_text == "entries":
        level = ENTRIES
    elif _DECIMAL.fullmatch(level_text) and int(level_text) <= MAX_LEVEL:
        level = int(level_text)
    else:
        raise TilePathError(f"tile level {level_text!r} is not 0-63 or 'entries'")
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, width_text = rest.partition(".p/")
        if not _DECIMAL.fullmatch(width_text) or not 1 <= int(width_text) < TILE_WIDTH:
            raise TilePathError(f"partial tile width {width_text!r} is not 1-255")
        width = int(width_text)
    elements = rest.split("/")
    index = 0
    for i, element in enumerate(elements):
        last = i == len(elements) - 1
        digits = element if last else element[1:]
        if (not last and not element.startswith("x")) or not re.fullmatch(r"[0-9]{3}", digits):
            raise TilePathError(f"tile index element {element!r} is not xDDD/…/DDD")
        index = index * 1000 + int(digits)
    tile = Tile(level, index, width)
    if tile.path != path:
        raise TilePathError(f"tile path {path!r} is not canonical (it is {tile.path!r})")
    return tile


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes tile (``level``, ``index``) holds in a tree of ``size`` (0: none)."""
    level = max(level, 0)  # a bundle has the width of its level-0 tile
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tiles_for_size(size: int, *, entries: bool = False) -> Iterator[Tile]:
    """Every hash tile (or entry bundle) a tree of ``size`` has, full and partial."""
    levels = [ENTRIES] if entries else range(MAX_LEVEL + 1)
    for level in levels:
        count = size >> (TILE_HEIGHT * max(level, 0))
        if not count:
            break
        for index in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            yield Tile(level, index, tile_width(level, index, size))


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries as a bundle: each prefixed by its length (big-endian uint16)."""
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TilePathError(f"entry {i} is {len(entry)} bytes; a bundle entry is at most 65,535")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, count: int | None = None) -> list[bytes]:
    """The entries of a bundle; ``TilePathError`` if it is truncated or (given ``count``) the wrong size."""
    out: list[bytes] = []
    pos = 0
    view = memoryview(data)
    while pos < len(view):
        if pos + 2 > len(view):
            raise TilePathError(f"bundle is truncated in the length of entry {len(out)}")
        n = int.from_bytes(view[pos : pos + 2], "big")
        pos += 2
        if pos + n > len(view):
            raise TilePathError(f"bundle is truncated in entry {len(out)}")
        out.append(bytes(view[pos : pos + n]))
        pos += n
    if count is not None and len(out) != count:
        raise TilePathError(f"bundle holds {len(out)} entries, not {count}")
    return out
