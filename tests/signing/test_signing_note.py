"""C2SP signed notes: checkpoint notes by the log key, cosignature/v1 lines, verifier keys and policies."""

import base64
import hashlib
import struct

import pytest
from conftest import LOG_ORIGIN, Pki
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from signing import NoteError, WitnessPolicyError, leaf_hash, public_key_pem
from signing.merkle import root
from signing.note import (
    COSIGNATURE_TYPE,
    ECDSA_TYPE,
    WitnessKey,
    checkpoint_text,
    cosign,
    ecdsa_key_id,
    join_note,
    parse_checkpoint_text,
    parse_policy,
    parse_vkey,
    sign_checkpoint_note,
    split_note,
    verify_checkpoint_note,
    verify_cosignatures,
    witness_key,
)

LEAVES = [leaf_hash(b"leaf %d" % i) for i in range(7)]


def raw(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_checkpoint_text_is_the_three_c2sp_lines() -> None:
    text = checkpoint_text("example.com/behind-the-sofa", 20852163,
                           base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
    assert text == "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    body = parse_checkpoint_text(text)
    assert (body.origin, body.tree_size) == ("example.com/behind-the-sofa", 20852163)
    for bad in ("a\n1\n", "a\n01\n" + text.split("\n")[2] + "\n", "a\n1\nxyz\n", "a\n\n1\nAAAA\n", "a\n1\nAAAA"):
        with pytest.raises(NoteError):
            parse_checkpoint_text(bad)


def test_the_log_signs_checkpoints_as_ecdsa_notes(pki: Pki) -> None:
    tree_root = root(LEAVES)
    note = sign_checkpoint_note(LOG_ORIGIN, len(LEAVES), tree_root, pki.log.signer)
    text, signatures = split_note(note)
    assert text == checkpoint_text(LOG_ORIGIN, 7, tree_root)
    assert [s.name for s in signatures] == [LOG_ORIGIN]
    # key ID of signature type 0x02: SHA-256 of the DER SubjectPublicKeyInfo, first 4 bytes
    der = pki.log.key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    assert signatures[0].key_id == hashlib.sha256(der).digest()[:4] == ecdsa_key_id(pki.log.signer.public_key_pem)
    body = verify_checkpoint_note(note, pki.log.signer.public_key_pem, LOG_ORIGIN)
    assert (body.tree_size, body.root) == (7, tree_root)
    assert ECDSA_TYPE == 0x02

    with pytest.raises(NoteError):  # another key
        verify_checkpoint_note(note, pki.seal.signer.public_key_pem)
    with pytest.raises(NoteError):  # another origin
        verify_checkpoint_note(note, pki.log.signer.public_key_pem, "other/log")
    forged = note.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(NoteError):
        verify_checkpoint_note(forged, pki.log.signer.public_key_pem)
    # a signature by an unknown key is ignored, not trusted
    stranger = sign_checkpoint_note(LOG_ORIGIN, 7, tree_root, pki.seal.signer)
    with pytest.raises(NoteError):
        verify_checkpoint_note(stranger, pki.log.signer.public_key_pem)
    both = join_note(text, split_note(stranger)[1] + signatures)
    assert verify_checkpoint_note(both, pki.log.signer.public_key_pem).tree_size == 7


def test_cosignature_v1_format(pki: Pki) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    note = sign_checkpoint_note(LOG_ORIGIN, 7, root(LEAVES), pki.log.signer)
    text, _ = split_note(note)
    line = cosign(text, "witness.example/w1", key, 1679315147)
    # key ID = SHA-256(name || "\n" || 0x04 || public key)[:4]; signature = u64 time || Ed25519
    assert line.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + raw(key)).digest()[:4]
    assert struct.unpack(">Q", line.signature[:8])[0] == 1679315147 and len(line.signature) == 72
    key.public_key().verify(line.signature[8:], b"cosignature/v1\ntime 1679315147\n" + text.encode())
    witness = witness_key("witness.example/w1", key)
    cosigned = note + line.line()
    valid, bad = verify_cosignatures(cosigned, [witness])
    assert [(c.witness, c.timestamp) for c in valid] == [("witness.example/w1", 1679315147)] and bad == []
    # the log's signature still verifies on the cosigned note
    verify_checkpoint_note(cosigned, pki.log.signer.public_key_pem)
    # a changed timestamp breaks it; an unknown witness is ignored
    changed = line.signature[:7] + bytes([line.signature[7] ^ 1]) + line.signature[8:]
    tampered = note + type(line)(line.name, line.key_id, changed).line()
    valid, bad = verify_cosignatures(tampered, [witness])
    assert valid == [] and bad == ["cosignature of witness.example/w1 does not verify"]
    other = witness_key("witness.example/w2", ed25519.Ed25519PrivateKey.generate())
    assert verify_cosignatures(cosigned, [other]) == ([], [])


def test_vkeys_and_policies() -> None:
    keys = [witness_key(f"witness.example/w{i}", ed25519.Ed25519PrivateKey.generate()) for i in range(3)]
    vkey = keys[0].vkey()
    name, kid, material = vkey.split("+", 2)
    assert (name, kid) == ("witness.example/w0", keys[0].key_id.hex())
    assert base64.b64decode(material) == bytes([COSIGNATURE_TYPE]) + keys[0].public_key
    assert parse_vkey(vkey) == keys[0]
    with pytest.raises(NoteError):
        parse_vkey(f"witness.example/other+{kid}+{material}")
    policy = parse_policy("# three provinces\n" + "".join(f"witness {k.vkey()}\n" for k in keys) + "quorum 2\n")
    assert policy.quorum == 2 and policy.witnesses == tuple(keys)
    for bad in ("quorum 1\n", f"witness {vkey}\nquorum 2\n", f"witness {vkey}\nwitness {vkey}\nquorum 1\n",
                f"witness {vkey}\nquorum 0\n", f"witness {vkey}\nwitnesses 1\n"):
        with pytest.raises(WitnessPolicyError):
            parse_policy(bad)
    assert isinstance(keys[0], WitnessKey)


def test_malformed_notes() -> None:
    for bad in ("a\n1\nAAAA\n", "a\n1\n\n\u2014 k AAAAAAA=", "a\n\n\u2014 k !!\n", "a\n\n- k AAAAAAA=\n",
                "a\x01\n\n\u2014 k AAAAAAA=\n", "a\n\n\u2014 k AAAA\n"):
        with pytest.raises(NoteError):
            split_note(bad)
    assert public_key_pem  # the package's names stay importable together


def test_the_specification_example_parses() -> None:
    """c2sp.org/tlog-cosignature's example: a log signature and a witness cosignature whose
    timestamp is the one its signed-message example shows (1679315147)."""
    example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9"
        "nTo+zyWE+xeMcTOAYQ8=\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA==\n")
    text, signatures = split_note(example)
    assert parse_checkpoint_text(text).tree_size == 20852163
    log_line, cosignature = signatures
    assert (log_line.name, len(log_line.signature)) == ("example.com/behind-the-sofa", 64)
    assert cosignature.name == "witness.example.com/w1" and len(cosignature.signature) == 8 + 64
    assert struct.unpack(">Q", cosignature.signature[:8])[0] == 1679315147
    assert join_note(text, signatures) == example
