"""Canonical JSON bytes (RFC 8785, without floats) and SHA-256 digests."""

import hashlib

import rfc8785

from .errors import CanonicalizationError

__all__ = ["canonical_bytes", "digest", "sha256_hex"]


def canonical_bytes(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value that holds no floats."""
    try:
        _check_json(obj)
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, UnicodeError, RecursionError) as exc:
        raise CanonicalizationError(str(exc)) from exc


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def digest(obj: object) -> str:
    """Return "sha256:<hex>" of the canonical bytes of `obj`."""
    return "sha256:" + sha256_hex(canonical_bytes(obj))


def _check_json(obj: object) -> None:
    # rfc8785 would serialise floats and silently accept tuples of anything;
    # records admit only integers, so reject floats before it sees them.
    if obj is None or isinstance(obj, (bool, int, str)):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise CanonicalizationError(f"object key is not a string: {key!r}")
            _check_json(value)
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _check_json(item)
        return
    raise CanonicalizationError(f"not a JSON value without floats: {type(obj).__name__}")
