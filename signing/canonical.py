"""Canonical JSON bytes (RFC 8785, without floats) and SHA-256 digests."""

import hashlib
import json
import re

import rfc8785

from .errors import CanonicalizationError

__all__ = ["canonical_bytes", "digest", "is_canonical_text", "loads_canonical", "sha256_hex"]


def canonical_bytes(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value that holds no floats."""
    try:
        _check_json(obj)
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, UnicodeError, RecursionError) as exc:
        raise CanonicalizationError(str(exc)) from exc


# Where json.dumps and RFC 8785 could disagree: integers beyond 2**53 (a number of 16 digits or
# more, which follows a colon, comma or bracket, or starts the text), and characters outside the
# Basic Multilingual Plane or lone surrogates (object keys sort by UTF-16 code units in RFC 8785,
# by code points in Python; surrogates do not encode). The second is found by encoding as UTF-16:
# only such characters take more than two bytes or fail.
_LONG_NUMBER = re.compile(r"(?:^|[:,\[])-?[0-9]{16}")


def _only_bmp(text: str) -> bool:
    try:
        return len(text.encode("utf-16-le")) == 2 * len(text)
    except UnicodeEncodeError:
        return False


def loads_canonical(text: str) -> tuple[bool, object]:
    """(True, value) when `text` is certainly the canonical JSON of the value it parses to, else
    (False, None): then parse it strictly and ask is_canonical_text, which decides every case.

    The quick answer of is_canonical_text, with parsing folded in: the parser gives up on any
    number of 16 digits or more as it reads (cheaper than searching the text), floats and NaN are
    refused, and duplicate keys cannot pass since the re-serialized text would be shorter.
    """
    if type(text) is not str or not _only_bmp(text):
        return False, None
    try:
        value = _QUICK_DECODER.decode(text)
        fast = _QUICK_ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):  # _LongNumber is a ValueError
        return False, None
    return (True, value) if fast == text else (False, None)


class _LongNumber(ValueError):
    pass


def _short_integer(token: str) -> int:
    if len(token) > 15:
        raise _LongNumber(token)
    return int(token)


def _refuse(token: str) -> object:
    raise ValueError(f"number not allowed: {token}")


# built once: json.loads and json.dumps build a new decoder or encoder for every call with options
_QUICK_DECODER = json.JSONDecoder(parse_int=_short_integer, parse_float=_refuse, parse_constant=_refuse)
_QUICK_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def is_canonical_text(value: object, text: str, *, parsed: bool = False) -> bool:
    """Whether `text` is exactly the canonical JSON of `value` (a value parsed from JSON text).

    Same answer as canonical_bytes(value) == text encoded as UTF-8, and raises as it does. The
    common case is decided by json.dumps: for values parsed from JSON (no floats), without
    16-digit numbers and without characters beyond U+FFFF, its compact key-sorted output with
    ensure_ascii off is RFC 8785's, character for character (same escapes, same integers, same key
    order). Anything else goes through canonical_bytes. `parsed=True` says `value` came from
    strict JSON parsing that refuses floats (dicts, lists, strings, integers, booleans, None
    only), which spares walking it to check.
    """
    if type(text) is str and _LONG_NUMBER.search(text) is None and _only_bmp(text):
        try:
            fast = _QUICK_ENCODER.encode(value)
        except (TypeError, ValueError):
            fast = None
        if fast == text and (parsed or _json_types(value)):
            return True
    encoded = text.encode("utf-8", "surrogatepass") if type(text) is str else None
    return canonical_bytes(value) == encoded


def _json_types(obj: object) -> bool:
    """Only what JSON parsing yields and canonical_bytes takes: no floats, string keys."""
    kind = type(obj)
    if kind is dict:
        return all(type(key) is str and _json_types(item) for key, item in obj.items())  # type: ignore[union-attr]
    if kind is list:
        return all(_json_types(item) for item in obj)  # type: ignore[union-attr]
    return obj is None or kind is bool or kind is int or kind is str


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
