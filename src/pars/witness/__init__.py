"""The witness room: a C2SP tlog-witness that any party can run, and the log's client for it.

- ``client``: the log side, ``add_checkpoint(url, old_size, proof, note)``.
- ``core``: the witness itself (pure decisions plus its persisted state).
- ``app``: the ASGI app serving ``POST /add-checkpoint``.

Rule: a witness never cosigns two different trees of one size for a log, and
never answers before what it cosigned is on disk.
"""
