"""Client order ids that fit a venue's rules, derived deterministically from the engine's id."""

from __future__ import annotations

import hashlib
import re

__all__ = ["BINANCE_ID_MAX", "encode_client_order_id", "encoded_prefix"]

BINANCE_ID_MAX = 36
_BINANCE_ALLOWED = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_BINANCE_BAD = re.compile(r"[^.A-Z:/a-z0-9_-]")
_DIGEST_CHARS = 16  # 64 bits of sha256: collisions are negligible for one account's orders


def encode_client_order_id(engine_id: str, max_length: int = BINANCE_ID_MAX) -> str:
    """Return engine_id if the venue accepts it as is, else a readable prefix plus a hash.

    The same engine id always gives the same venue id, in every process, so a resend after a
    crash carries the id the venue already knows and the venue refuses the duplicate.
    """
    if len(engine_id) <= max_length and _BINANCE_ALLOWED.match(engine_id):
        return engine_id
    digest = hashlib.sha256(engine_id.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    readable = _BINANCE_BAD.sub("_", engine_id)[: max_length - _DIGEST_CHARS - 1]
    return f"{readable}-{digest}"


def encoded_prefix(prefix: str, max_length: int = BINANCE_ID_MAX) -> str:
    """Return the start shared by the venue ids of every engine id that starts with prefix."""
    return _BINANCE_BAD.sub("_", prefix)[: max_length - _DIGEST_CHARS - 1]
