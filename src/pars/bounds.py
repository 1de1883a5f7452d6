"""The bounds every input is held to before anything else happens (issue 13, CONTRACT 4).

Routes, the gate, ingest, agreements and the CLI take their limits from here, so a
value is judged the same wherever it arrives. Times and days have theirs in
``pars.clock`` (``parse_instant``: the years ``MIN_YEAR``..``MAX_YEAR``).

Rule: a value outside a bound is refused with a message naming the field (HTTP
422; on a partner route still one audit entry with its receipt); nothing here
raises anything but ``ValueError``. Pure.
"""

from __future__ import annotations

from typing import Any

#: Deepest nesting a JSON or YAML document may have (a search body is three deep,
#: an agreement five).
MAX_DEPTH = 32


def is_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate (JSON ``"\\ud800"``): not Unicode text."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a decoded JSON value is not taken (nested too deep, a lone surrogate), or None.

    Iterative: a value nested a million deep costs a loop, never the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return "a string holds a lone surrogate (not Unicode text)"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for k, v in item.items():
                    if isinstance(k, str) and not is_unicode(k):
                        return "a key holds a lone surrogate (not Unicode text)"
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def load_json(text: str | bytes) -> Any:
    """JSON within the bounds: ``ValueError`` naming the problem (not JSON, too deep, a lone
    surrogate), never ``RecursionError``."""
    import json

    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({getattr(exc, 'msg', exc)})") from None
    problem = json_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value
