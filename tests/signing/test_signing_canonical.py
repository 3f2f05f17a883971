"""RFC 8785 known-answer vectors and the no-float rule."""

import hashlib
import json
import unicodedata

import pytest

from signing import CanonicalizationError, SigningError, canonical_bytes, digest, sha256_hex

# RFC 8785 section 3.2.4: the UTF-8 bytes of the canonical form of its sample.
RFC8785_SAMPLE_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC8785_SAMPLE_OUTPUT = bytes.fromhex(
    "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72"
    "75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a"
    "5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31"
    "65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37"
    "5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30"
    "30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
)
RFC8785_NUMBERS = b'"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'


def test_rfc8785_sample_without_floats() -> None:
    sample = json.loads(RFC8785_SAMPLE_INPUT)
    numbers = sample.pop("numbers")
    assert RFC8785_NUMBERS in RFC8785_SAMPLE_OUTPUT
    # Floats are refused here, so the RFC's expected bytes minus its number array.
    assert canonical_bytes(sample) == RFC8785_SAMPLE_OUTPUT.replace(RFC8785_NUMBERS, b"")
    with pytest.raises(CanonicalizationError):
        canonical_bytes({"numbers": numbers})


def test_rfc8785_property_sorting() -> None:
    # RFC 8785 section 3.2.3: keys sort by their UTF-16 code units, not code points.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode("utf-8")
    assert canonical_bytes(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-1, b"-1"),
        (9007199254740991, b"9007199254740991"),  # 2**53 - 1, RFC 8785 appendix B
        (-9007199254740991, b"-9007199254740991"),
        ([None, True, False], b"[null,true,false]"),
        ({"b": [], "a": {}}, b'{"a":{},"b":[]}'),
        ("\u2028\u2029</script>", '"\u2028\u2029</script>"'.encode()),
        ("\x00\x1f\x7f", b'"\\u0000\\u001f\x7f"'),
    ],
)
def test_known_answers(value: object, expected: bytes) -> None:
    assert canonical_bytes(value) == expected


@pytest.mark.parametrize(
    "text",
    [
        "کانون\u200cهای فرهنگی",  # ZWNJ
        "\u0622",  # آ precomposed (NFC)
        "\u0627\u0653",  # ا + madda above (NFD of آ): JCS must not normalise it
        "\u064a\u0643",  # Arabic yeh and kaf stay as they are
        "e\u0301",
    ],
)
def test_strings_are_preserved_byte_for_byte(text: str) -> None:
    assert canonical_bytes({"t": text}) == b'{"t":"' + text.encode("utf-8") + b'"}'


def test_nfc_and_nfd_differ() -> None:
    # Normalising text is the caller's job; canonical bytes keep what they are given.
    nfd = unicodedata.normalize("NFD", "\u0622")
    assert nfd != "\u0622"
    assert canonical_bytes(nfd) != canonical_bytes("\u0622")


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.5,
        float("nan"),
        float("inf"),
        {"a": [1, {"b": 2.5}]},
        {1: "int key"},
        {("t",): "tuple key"},
        {None: "null key"},
        b"bytes",
        {1, 2},
        object(),
        2**53,
        -(2**53),
        "\ud800",  # lone surrogate
        {"\udfff": 1},
    ],
)
def test_refused(value: object) -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonical_bytes(value)
    assert isinstance(info.value, SigningError)
    assert info.value.code == "not_canonical_json"


def test_too_deep_is_refused() -> None:
    value: object = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(CanonicalizationError):
        canonical_bytes(value)


def test_digests() -> None:
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digest({"b": 1, "a": "x"}) == "sha256:" + hashlib.sha256(b'{"a":"x","b":1}').hexdigest()
