"""The fast paths of record verification give the answers of the slow ones."""

import json
import random
import re
from datetime import datetime, timezone

import pytest

from signing import CanonicalizationError, RecordError, canonical_bytes, parse_time
from signing.canonical import is_canonical_text, loads_canonical
from signing.records import _TIME_FORMAT, _time

CHARS = [chr(i) for i in range(0x250)] + ["\u2028", "\u2029", "\ufeff", "\uffff", "\ue000", "\U0001f600",
                                         "ی", "ک", "\u200c", "\x7f", "\ud800"]


def _string(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, size)))


def _value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return _string(rng, 8)
    if roll < 0.42:
        return rng.choice([rng.randint(-10**15, 10**15), 2**53 - 1, 2**53, -(2**53), 10**20, 0, -1])
    if roll < 0.47:
        return rng.choice([None, True, False, 1.5, 1.0])
    if roll < 0.72:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_string(rng, 5): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _slow(value: object, text: str) -> bool | type:
    try:
        return canonical_bytes(value) == text.encode("utf-8", "surrogatepass")
    except CanonicalizationError:
        return CanonicalizationError


def _fast(value: object, text: str) -> bool | type:
    try:
        return is_canonical_text(value, text)
    except CanonicalizationError:
        return CanonicalizationError


def test_is_canonical_text_answers_like_canonical_bytes() -> None:
    rng = random.Random(8785)
    for _ in range(4000):
        value = _value(rng)
        texts = [json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                 json.dumps(value, ensure_ascii=False, separators=(",", ":")),
                 json.dumps(value, separators=(",", ":"), sort_keys=True),
                 json.dumps(value, ensure_ascii=False, sort_keys=True)]
        try:
            texts.append(canonical_bytes(value).decode("utf-8"))
        except (CanonicalizationError, UnicodeDecodeError):
            pass
        for text in texts:
            assert _fast(value, text) == _slow(value, text), (value, text)


def _strict_answer(text: str) -> bool:
    """Whether the text is canonical JSON, as verification decided before loads_canonical:
    strict parsing (no duplicate keys, floats or constants), then is_canonical_text."""
    from signing.records import _load_json
    try:
        return is_canonical_text(_load_json(text), text, parsed=True)
    except (ValueError, CanonicalizationError):
        return False


def test_loads_canonical_accepts_only_what_strict_parsing_and_canonical_bytes_accept() -> None:
    rng = random.Random(8786)
    texts = ['{"a":1,"a":1}', '{"a":{"b":1,"b":2}}', '{"a":1.5}', '{"a":NaN}', '{"a":1e3}', '[1,2', '',
             '{"n":1234567890123456}', '{"n":-123456789012345}', '{"n":-1234567890123456}', '{"b":1,"a":2}',
             '{"a":"\u00e9"}', '{"a":"é"}', '"\ud800"', '{"a":[]}', '{"a":9007199254740993}', 'null', '"x"',
             '{"😀":1,"":2}', '{"":2,"😀":1}']
    for _ in range(3000):
        value = _value(rng)
        texts.append(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
        texts.append(json.dumps(value, separators=(",", ":"), sort_keys=True))
        try:
            texts.append(canonical_bytes(value).decode("utf-8"))
        except (CanonicalizationError, UnicodeDecodeError):
            pass
    accepted = 0
    for text in texts:
        ok, value = loads_canonical(text)
        if ok:  # never accepts what the strict way refuses, and parses to the same value
            accepted += 1
            assert _strict_answer(text) is True and value == json.loads(text), text
    assert accepted > len(texts) // 3  # and it is the common case, not a path never taken


@pytest.mark.parametrize("value, text, expected", [
    ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}', True),
    ({"b": 1, "a": 2}, '{"b":1,"a":2}', False),
    ({"a": 1.0}, '{"a":1.0}', CanonicalizationError),  # records hold no floats
    ({"a": 2**53}, '{"a":9007199254740992}', CanonicalizationError),
    ({"\U0001f600": 1, "\ue000": 2}, '{"\U0001f600":1,"\ue000":2}', True),  # UTF-16 order
    ({"\U0001f600": 1, "\ue000": 2}, '{"\ue000":2,"\U0001f600":1}', False),
    ({"a": "\x7f\u2028"}, '{"a":"\x7f\u2028"}', True),
    ({"a": "\x1f"}, '{"a":"\\u001f"}', True),
    ({"a": "\ud800"}, '{"a":"\\ud800"}', CanonicalizationError),
    ({"h": "ab1234567890123456", "n": [-123456789012345]}, '{"h":"ab1234567890123456","n":[-123456789012345]}', True),
    ({"n": [1, -9007199254740991]}, '{"n":[1,-9007199254740991]}', True),
    ({"n": [1, -9007199254740992]}, '{"n":[1,-9007199254740992]}', CanonicalizationError),
])
def test_is_canonical_text_examples(value: object, text: str, expected: object) -> None:
    assert _fast(value, text) == expected == _slow(value, text)


def test_record_times_are_checked_as_strptime_checks_them() -> None:
    rng = random.Random(3339)
    samples = ["2026-02-29T00:00:00.000000Z", "2024-02-29T23:59:59.999999Z", "2026-13-01T00:00:00.000000Z",
               "0000-01-01T00:00:00.000000Z", "2026-01-01T24:00:00.000000Z", "2026-01-01T00:60:00.000000Z",
               "2026-01-01T00:00:60.000000Z", "2026-01-01T00:00:61.000000Z", "2026-04-31T00:00:00.000000Z",
               "2026-00-10T00:00:00.000000Z", "2026-01-00T00:00:00.000000Z", "2026-01-01T00:00:00.000000",
               "2026-01-01 00:00:00.000000Z", "2026-1-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"]
    for _ in range(3000):
        samples.append(f"{rng.randint(0, 9999):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}T"
                       f"{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 62):02d}."
                       f"{rng.randint(0, 999999):06d}Z")
    for text in samples:
        try:  # the shape, then strptime: how record times were checked before
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", text):
                raise ValueError(text)
            expected = datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            expected = None
        assert _time(text) is (expected is not None), text
        if expected is None:
            with pytest.raises(RecordError):
                parse_time(text)
        else:
            assert parse_time(text) == expected
