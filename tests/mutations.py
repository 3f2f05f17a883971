"""Deterministic mutations of sealed PDFs and evidence bundles, for the verifiers' robustness tests.

Every generator takes a seeded random.Random, so a run is the same each time; each mutation is
returned with a short name (what was done, and where) for the failure message.
"""
from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from pyhanko.sign.general import match_issuer_serial

#: JSON values a member is swapped for: every type, giant and negative numbers, odd strings
ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**64, 10**400, -(10**30), "", "\ud800", "\x00", "é" * 3, [], {}, [[[]]],
    {"a": None}, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "zz" * 32, "AAAA====",
)


@dataclass(frozen=True)
class PdfLayout:
    """Where the parts of a sealed PDF lie, as byte offsets."""

    #: end of the signed revision (the second byte range's end); after it come unsigned updates
    signed_end: int
    #: the signature's /Contents hex string, between the two byte ranges (brackets excluded)
    contents: tuple[int, int]
    #: where the hex of the CMS ends and its zero padding begins
    padding_start: int
    #: data of the attached evidence.json stream in the signed revision
    evidence_stream: tuple[int, int]
    #: offsets of each "N 0 obj" header
    objects: tuple[int, ...]

    def signed(self, position: int) -> bool:
        """True when the byte at `position` is covered by the signature."""
        return position < self.contents[0] - 1 or self.contents[1] + 1 <= position < self.signed_end

    def covered_bytes(self, pdf: bytes) -> bytes:
        """The bytes the signature covers, read at the original offsets."""
        return pdf[:self.contents[0] - 1] + pdf[self.contents[1] + 1:self.signed_end]


def layout(pdf: bytes) -> PdfLayout:
    """Find the byte ranges, the CMS and the evidence stream of a PDF sealed once by sign_pdf."""
    match = re.search(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", pdf)
    assert match is not None, "not a sealed PDF"
    _, first_length, second_start, second_length = map(int, match.groups())
    contents = (first_length + 1, second_start - 1)  # inside < and >
    hex_text = pdf[contents[0]:contents[1]]
    padding = len(hex_text.rstrip(b"0"))
    padding += padding % 2
    evidence = pdf.index(b"/Type /EmbeddedFile")
    stream = pdf.index(b"stream", evidence) + len(b"stream")
    stream += 2 if pdf[stream:stream + 2] == b"\r\n" else 1
    end = pdf.index(b"endstream", stream)
    end -= 2 if pdf[end - 2:end] == b"\r\n" else 1 if pdf[end - 1:end] in (b"\n", b"\r") else 0
    return PdfLayout(
        signed_end=second_start + second_length,
        contents=contents,
        padding_start=contents[0] + padding,
        evidence_stream=(stream, end),
        objects=tuple(m.start() for m in re.finditer(rb"\d+ 0 obj", pdf)),
    )


def cms_meaning(pdf: bytes, where: PdfLayout) -> tuple | None:
    """What a seal's CMS says, read at the original offsets; None when it does not parse.

    Its signed attributes and signature, the algorithms (not the digest algorithm's parameters,
    which verifiers ignore), its content, and the certificate its signer identifier names under
    RFC 5280 name matching (pyHanko's own match: a case change in the name names the same one).
    """
    try:
        # the whole reserved space, padding included, read as a PDF reader reads a hex string
        hex_text = re.sub(rb"\s", b"", pdf[where.contents[0]:where.contents[1]])
        hex_text += b"0" * (len(hex_text) % 2)
        signed = cms.ContentInfo.load(bytes.fromhex(hex_text.decode("ascii")), strict=False)["content"]
        (info,) = signed["signer_infos"]
        signer = next(cert for cert in map(_parsed_certificate, signed["certificates"])
                      if cert is not None and match_issuer_serial(info["sid"].chosen, cert))
        return (info["signed_attrs"].dump(force=True), info["signature"].native,
                info["signature_algorithm"]["algorithm"].native, info["digest_algorithm"]["algorithm"].native,
                signed["encap_content_info"].dump(force=True), signer.dump(force=True))
    except Exception:  # a CMS that does not parse means nothing; it must not have been found valid
        return None


def _parsed_certificate(choice) -> Any:
    """A certificate the CMS carries, or None when it is damaged (the others may still serve)."""
    try:
        cert = choice.chosen
        cert.native  # parses every field
        return cert
    except Exception:
        return None


def pdf_mutations(pdf: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """`count` damaged copies of a sealed PDF: flips, truncations, insertions, deletions, damaged
    streams, swapped objects, and changes of the unsigned parts."""
    where = layout(pdf)
    kinds = (_flip, _flip, _truncate, _insert, _delete, _evidence_damage, _swap_objects, _hex_damage,
             _unsigned_tail, _padding, _appended_update)
    for number in range(count):
        kind = kinds[number % len(kinds)]
        name, mutated = kind(pdf, where, rng)
        if mutated != pdf:
            yield name, mutated


def _flip(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    position = rng.randrange(len(pdf))
    bit = 1 << rng.randrange(8)
    return f"flip bit {bit} at {position}", pdf[:position] + bytes([pdf[position] ^ bit]) + pdf[position + 1:]


def _truncate(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    end = rng.choice((rng.randrange(len(pdf)), where.signed_end + rng.randrange(-8, 8), len(pdf) - rng.randrange(1, 40)))
    return f"truncate at {end}", pdf[:end]


def _insert(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    position = rng.randrange(len(pdf))
    junk = rng.choice((b"\x00", b" ", b"\n%", b"<<", b"]", b"\xff\xfe", b"1 0 R", rng.randbytes(rng.randrange(1, 9))))
    return f"insert {junk!r} at {position}", pdf[:position] + junk + pdf[position:]


def _delete(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    position = rng.randrange(len(pdf))
    length = rng.randrange(1, 64)
    return f"delete {length} at {position}", pdf[:position] + pdf[position + length:]


def _evidence_damage(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    """Damage the compressed evidence.json stream (the page's 500 of old: a zlib error)."""
    start, end = where.evidence_stream
    position = rng.randrange(start, end)
    choice = rng.randrange(3)
    if choice == 0:
        junk = bytes([pdf[position] ^ (1 << rng.randrange(8))])
        return f"evidence stream byte {position}", pdf[:position] + junk + pdf[position + 1:]
    if choice == 1:  # the stream's data cut short, padded to its declared length
        return f"evidence stream zeroed from {position}", pdf[:position] + bytes(end - position) + pdf[end:]
    garbage = zlib.compress(b"{" * 50)[:-rng.randrange(1, 6)]
    garbage = (garbage + bytes(end - start))[:end - start]
    return "evidence stream replaced", pdf[:start] + garbage + pdf[end:]


def _swap_objects(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    """Exchange the numbers of two object headers (each object read as the other)."""
    first, second = sorted(rng.sample(where.objects, 2))
    a = re.match(rb"\d+ 0 obj", pdf[first:]).group()
    b = re.match(rb"\d+ 0 obj", pdf[second:]).group()
    swapped = pdf[:first] + b + pdf[first + len(a):second] + a + pdf[second + len(b):]
    return f"swap objects at {first} and {second}", swapped


def _hex_damage(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    """Change one hex digit of the signature's CMS (signer info, certificates, signature value)."""
    position = rng.randrange(where.contents[0], where.padding_start)
    digit = rng.choice([c for c in b"0123456789abcdef" if c != pdf[position]])
    return f"CMS hex digit at {position}", pdf[:position] + bytes([digit]) + pdf[position + 1:]


def _unsigned_tail(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    """Change a byte of the validation data added after the seal (not signed)."""
    position = rng.randrange(where.signed_end, len(pdf))
    bit = 1 << rng.randrange(8)
    return f"unsigned tail flip at {position}", pdf[:position] + bytes([pdf[position] ^ bit]) + pdf[position + 1:]


def _padding(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    """Change a digit of the zero padding after the CMS, inside the signature's reserved space."""
    position = rng.randrange(where.padding_start, where.contents[1])
    digit = rng.choice(b"123456789abcdefG ")
    return f"CMS padding at {position}", pdf[:position] + bytes([digit]) + pdf[position + 1:]


def _appended_update(pdf: bytes, where: PdfLayout, rng: random.Random) -> tuple[str, bytes]:
    """An incremental update after the seal: a deeply nested or wrongly typed catalog, or a new
    object; nothing signed changes, but the file as a whole no longer says the same."""
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    depth = rng.choice((1, 100, 5_000, 50_000))
    value = rng.choice((b"[" * depth + b"]" * depth, b"<< /A " * depth + b">>" * depth, b"(text)", b"1 0 R"))
    number = rng.choice((1, 2, 99))
    body = b"\n%d 0 obj\n%s\nendobj\n" % (number, value)
    xref = (b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n"
            b"trailer\n<< /Size 100 /Prev %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n")
    tail = body + xref % (number, len(pdf) + 1, previous, number, len(pdf) + len(body))
    return f"update: object {number} = {value[:12]!r} x{depth}", pdf + tail


def bundle_mutations(bundle: dict[str, Any], data: bytes, rng: random.Random, count: int
                     ) -> Iterator[tuple[str, bytes]]:
    """`count` damaged copies of a bundle: JSON members deleted, retyped or swapped, deep nesting,
    giant numbers, bad base64, hex and PEM, surrogates and invalid UTF-8, and raw byte damage."""
    kinds = (_member_delete, _member_retype, _member_retype, _string_edit, _deep_nesting, _giant_number,
             _bad_encoding, _swap_members, _byte_damage, _byte_damage, _invalid_utf8)
    for number in range(count):
        kind = kinds[number % len(kinds)]
        name, mutated = kind(bundle, data, rng)
        if mutated != data:
            yield name, mutated


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON value (the value itself not included)."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _copy_with(bundle: dict[str, Any], path: tuple, change) -> dict[str, Any]:
    copy = json.loads(json.dumps(bundle))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    change(parent, path[-1])
    return copy


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def _member_delete(bundle, data, rng) -> tuple[str, bytes]:
    path = rng.choice(_paths(bundle))

    def delete(parent, key):
        del parent[key]

    return f"delete {path}", _dump(_copy_with(bundle, path, delete))


def _member_retype(bundle, data, rng) -> tuple[str, bytes]:
    path = rng.choice(_paths(bundle))
    value = rng.choice(ODD_VALUES)

    def retype(parent, key):
        parent[key] = value

    return f"set {path} to {str(value)[:30]!r}", _dump(_copy_with(bundle, path, retype))


def _string_edit(bundle, data, rng) -> tuple[str, bytes]:
    """Change one character of a string member: a record's text, a PEM line, a signature, a hash."""
    path = rng.choice([p for p in _paths(bundle) if isinstance(_get(bundle, p), str) and _get(bundle, p)])
    text = _get(bundle, path)
    position = rng.randrange(len(text))
    new = rng.choice("0aA=+/\n\\\"\u200c\udcff}")

    def edit(parent, key):
        parent[key] = text[:position] + new + text[position + 1:]

    return f"edit {path}[{position}] to {new!r}", _dump(_copy_with(bundle, path, edit))


def _get(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def _deep_nesting(bundle, data, rng) -> tuple[str, bytes]:
    depth = rng.choice((200, 5_000, 100_000))
    path = rng.choice(_paths(bundle))
    nested = "[" * depth + "]" * depth
    if rng.randrange(2):  # inside a record's signed text, parsed again by the verifier
        record = rng.randrange(len(bundle["records"]))

        def nest_text(parent, key):
            parent[key] = parent[key][:-1] + ',"x":' + nested + "}"

        mutated = _copy_with(bundle, ("records", record, "canonical"), nest_text)
        return f"records[{record}].canonical nested {depth} deep", _dump(mutated)
    marker = "\u0000nest\u0000"

    def nest(parent, key):
        parent[key] = marker

    text = _dump(_copy_with(bundle, path, nest)).replace(_dump(marker), nested.encode())
    return f"{path} nested {depth} deep", text


def _giant_number(bundle, data, rng) -> tuple[str, bytes]:
    path = rng.choice([p for p in _paths(bundle) if isinstance(_get(bundle, p), (int, str))])
    number = rng.choice(("9" * 5_000, "1" + "0" * 30, "-" + "9" * 20, "1e400", "1.5", "NaN", "Infinity", "-0"))
    marker = "\u0000number\u0000"

    def set_marker(parent, key):
        parent[key] = marker

    text = _dump(_copy_with(bundle, path, set_marker)).replace(_dump(marker), number.encode())
    return f"{path} = {number[:12]}", text


def _bad_encoding(bundle, data, rng) -> tuple[str, bytes]:
    """Base64, hex or PEM that does not decode, or decodes to something else."""
    record = rng.randrange(len(bundle["records"]))
    choice = rng.randrange(6)
    if choice == 0:
        path, value = ("records", record, "signature"), rng.choice(("!!!!", "AAAA", "A===", "", "\udcff"))
    elif choice == 1:
        path, value = ("case_head", "signature"), rng.choice(("!!!!", "AAAA", "", "QUJD\n"))
    elif choice == 2:
        proof = bundle["records"][record]["inclusion_proof"]
        path = ("records", record, "inclusion_proof", rng.randrange(len(proof))) if proof else ("case_head", "root")
        value = rng.choice(("ZZ" * 32, "AB" * 32, "0" * 63, "0" * 65, "０" * 64))
    elif choice == 3:
        path = ("case_head", "root")
        value = rng.choice(("g" * 64, "A" * 64, "0" * 62))
    else:
        pem = bundle["log_signer"]["certificate"] if choice == 4 else bundle["crls"][0]
        cut = rng.randrange(30, len(pem))
        value = rng.choice((pem[:cut], pem.replace("\n", "", 2), pem + pem, pem.replace("A", "\u00c0", 1),
                            pem[:cut] + "*" + pem[cut + 1:]))
        path = ("log_signer", "certificate") if choice == 4 else ("crls", 0)

    def change(parent, key):
        parent[key] = value

    return f"bad encoding at {path}", _dump(_copy_with(bundle, path, change))


def _swap_members(bundle, data, rng) -> tuple[str, bytes]:
    """Swap two records, two signers, or a record member between records."""
    records = bundle["records"]
    copy = json.loads(json.dumps(bundle))
    first, second = rng.sample(range(len(records)), 2)
    choice = rng.randrange(3)
    if choice == 0:
        copy["records"][first], copy["records"][second] = copy["records"][second], copy["records"][first]
        return f"swap records {first} and {second}", _dump(copy)
    if choice == 1:
        member = rng.choice(sorted(records[0]))
        copy["records"][first][member], copy["records"][second][member] = (
            copy["records"][second][member], copy["records"][first][member])
        return f"swap {member} of records {first} and {second}", _dump(copy)
    copy["records"].append(copy["records"][first])
    return f"record {first} repeated", _dump(copy)


def _byte_damage(bundle, data, rng) -> tuple[str, bytes]:
    choice = rng.randrange(3)
    position = rng.randrange(len(data))
    if choice == 0:
        return f"flip at {position}", data[:position] + bytes([data[position] ^ (1 << rng.randrange(8))]) + data[position + 1:]
    if choice == 1:
        return f"truncate at {position}", data[:position]
    return f"delete at {position}", data[:position] + data[position + rng.randrange(1, 40):]


def _invalid_utf8(bundle, data, rng) -> tuple[str, bytes]:
    position = rng.randrange(len(data))
    junk = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xef\xbb\xbf"))
    return f"insert {junk!r} at {position}", data[:position] + junk + data[position:]
