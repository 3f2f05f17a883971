"""The Merkle log: RFC 6962 reference vectors, every proof of every small tree, checkpoints."""

import base64
import dataclasses
import hashlib
import inspect
import sys
from collections.abc import Callable

import pytest

from signing import (
    EMPTY_ROOT,
    Checkpoint,
    CheckpointError,
    ConsistencyProofError,
    InclusionProofError,
    InMemorySigner,
    MerkleError,
    SignedCheckpoint,
    consistency_proof,
    generate_key,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    record_leaf_hash,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from signing.merkle import (
    complete_subtrees,
    consistency_ranges,
    frontier_append,
    frontier_root,
    inclusion_ranges,
    range_hashes,
    root,
    subtrees_of,
)

# Known answers from google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc
# (kInputs, kSHA256EmptyTreeHash, kSHA256Roots, kSHA256Paths, kSHA256Proofs).
INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
EMPTY_TREE = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = [  # tree sizes 1..8
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, 0-based; tree size; audit path). The C++ file counts leaves from 1.
PATHS = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
# (old size, new size, consistency proof)
PROOFS = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
LEAVES = [leaf_hash(data) for data in INPUTS]
WRONG = bytes(32)


def hexes(nodes: list[bytes]) -> list[str]:
    return [node.hex() for node in nodes]


# --- RFC 6962 section 2.1 written as the recursive definitions, for cross-checking ----


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = ref_split(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = ref_split(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [ref_mth(leaves)]
    k = ref_split(len(leaves))
    if m <= k:
        return ref_subproof(m, leaves[:k], whole) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


# --- known answers -------------------------------------------------------------------


def test_empty_tree_and_leaf_hash() -> None:
    assert root([]).hex() == EMPTY_TREE == EMPTY_ROOT.hex()
    assert LEAVES[0].hex() == ROOTS[0]  # a one-leaf tree's root is its leaf hash


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert root(LEAVES[:size]).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), PATHS)
def test_reference_audit_paths(index: int, size: int, path: list[str]) -> None:
    assert hexes(inclusion_proof(index, LEAVES[:size])) == path
    verify_inclusion(LEAVES[index], index, size, [bytes.fromhex(node) for node in path],
                     bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "proof"), PROOFS)
def test_reference_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    assert hexes(consistency_proof(old, LEAVES[:new])) == proof
    verify_consistency(old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]),
                       [bytes.fromhex(node) for node in proof])


# --- every proof of every tree of 1..64 leaves -------------------------------------------

SIZES = range(1, 65)
BIG = [leaf_hash(i.to_bytes(2, "big")) for i in range(64)]


def fails(error: type[Exception], check: Callable[..., None], *arguments: object) -> bool:
    try:
        check(*arguments)
    except error:
        return True
    return False


def inclusion_tampered(leaf: bytes, index: int, size: int, proof: list[bytes], top: bytes):
    """Every wrong variant of a valid inclusion proof, as (name, arguments)."""
    yield "wrong leaf", (leaf_hash(b"wrong"), index, size, proof, top)
    yield "wrong root", (leaf, index, size, proof, WRONG)
    for other in {index - 1, index + 1, index ^ 2, size} - {index}:
        if other >= 0:
            yield f"index {other}", (leaf, other, size, proof, top)
    # Halved and doubled sizes, as CT's tests: a size whose tree has the same shape
    # around this leaf (3 and 4 for leaf 0) proves the same thing and is not tampering.
    for other in {size * 2, size // 2} - {size}:
        yield f"size {other}", (leaf, index, other, proof, top)
    for i in range(len(proof)):
        changed = list(proof)
        changed[i] = WRONG
        yield f"node {i}", (leaf, index, size, changed, top)
    yield "extra node", (leaf, index, size, [*proof, WRONG], top)
    yield "extra root", (leaf, index, size, [*proof, top], top)
    yield "leading node", (leaf, index, size, [WRONG, *proof], top)
    if proof:
        yield "missing node", (leaf, index, size, proof[:-1], top)


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof(size: int) -> None:
    leaves = BIG[:size]
    top = root(leaves)
    assert top == ref_mth(leaves)
    batch = inclusion_proofs(list(range(size)), leaves)
    for index in range(size):
        proof = inclusion_proof(index, leaves)
        assert proof == ref_path(index, leaves) == batch[index]
        verify_inclusion(leaves[index], index, size, proof, top)
        for name, arguments in inclusion_tampered(leaves[index], index, size, proof, top):
            assert fails(InclusionProofError, verify_inclusion, *arguments), (size, index, name)


def consistency_tampered(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]):
    """Every wrong variant of a valid, non-trivial consistency proof, as (name, arguments)."""
    yield "wrong old root", (old, new, WRONG, new_root, proof)
    yield "wrong new root", (old, new, old_root, WRONG, proof)
    if old_root != new_root:
        yield "swapped roots", (old, new, new_root, old_root, proof)
    for other in {old - 1, old + 1, old ^ 2} - {old}:
        if 0 < other <= new:
            yield f"old size {other}", (other, new, old_root, new_root, proof)
    for other in {new * 2, new // 2} - {new}:
        yield f"new size {other}", (old, other, old_root, new_root, proof)
    yield "empty proof", (old, new, old_root, new_root, [])
    for i in range(len(proof)):
        changed = list(proof)
        changed[i] = WRONG
        yield f"node {i}", (old, new, old_root, new_root, changed)
    yield "extra node", (old, new, old_root, new_root, [*proof, WRONG])
    yield "repeated node", (old, new, old_root, new_root, [*proof, proof[-1]])
    yield "missing node", (old, new, old_root, new_root, proof[:-1])
    yield "leading node", (old, new, old_root, new_root, [WRONG, *proof])


@pytest.mark.parametrize("new", SIZES)
def test_every_consistency_proof(new: int) -> None:
    leaves = BIG[:new]
    new_root = root(leaves)
    for old in range(0, new + 1):
        proof = consistency_proof(old, leaves)
        old_root = root(leaves[:old])
        assert proof == (ref_subproof(old, leaves, True) if 0 < old < new else [])
        verify_consistency(old, new, old_root, new_root, proof)
        if not proof:
            continue
        for name, arguments in consistency_tampered(old, new, old_root, new_root, proof):
            assert fails(ConsistencyProofError, verify_consistency, *arguments), (old, new, name)


def test_trivial_consistency_cases() -> None:
    top = root(BIG[:3])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 3, EMPTY_ROOT, top, [])
    verify_consistency(3, 3, top, top, [])
    for arguments in [
        (0, 3, WRONG, top, []),  # the empty tree has a fixed root
        (0, 3, EMPTY_ROOT, top, [top]),  # a proof from nothing is empty
        (3, 3, top, WRONG, []),  # same size, different roots
        (3, 3, top, top, [top]),  # same size, non-empty proof
        (3, 2, top, top, []),  # shrinking
        (-1, 3, top, top, []),
        (True, 3, top, top, []),
    ]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*arguments)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(MerkleError):
        root([b"short"])
    with pytest.raises(MerkleError):
        root([bytearray(32)])  # type: ignore[list-item]
    with pytest.raises(MerkleError):
        root(bytes(64))  # a byte string is not a sequence of hashes
    with pytest.raises(MerkleError):
        inclusion_proof(3, BIG[:3])
    with pytest.raises(MerkleError):
        inclusion_proof(-1, BIG[:3])
    with pytest.raises(MerkleError):
        inclusion_proof(True, BIG[:3])  # type: ignore[arg-type]
    with pytest.raises(MerkleError):
        inclusion_proof(0, [])
    with pytest.raises(MerkleError):
        consistency_proof(4, BIG[:3])
    with pytest.raises(MerkleError):
        leaf_hash("text")  # type: ignore[arg-type]
    with pytest.raises(InclusionProofError):
        verify_inclusion(BIG[0], 0, 1, [], b"short")
    with pytest.raises(InclusionProofError):
        verify_inclusion(BIG[0], 0, 0, [], root([]))
    with pytest.raises(InclusionProofError):
        verify_inclusion(BIG[0], 0, 2, [b"x" * 31], root(BIG[:2]))
    assert consistency_proof(0, BIG[:5]) == consistency_proof(5, BIG[:5]) == []


def test_no_recursion_even_with_a_tiny_stack() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(20_000)]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 25)
    try:
        top = root(leaves)
        proof = inclusion_proof(12_345, leaves)
        consistency = consistency_proof(16_385, leaves)
    finally:
        sys.setrecursionlimit(limit)
    verify_inclusion(leaves[12_345], 12_345, len(leaves), proof, top)
    verify_consistency(16_385, len(leaves), root(leaves[:16_385]), top, consistency)
    assert len(proof) == 15


def test_record_leaf_hash() -> None:
    digest = hashlib.sha256(b"record").hexdigest()
    assert record_leaf_hash(digest) == hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest()
    for bad in (digest.upper(), digest[:-1], "", None):
        with pytest.raises(MerkleError):
            record_leaf_hash(bad)  # type: ignore[arg-type]


# --- checkpoints ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_signer() -> InMemorySigner:
    return InMemorySigner(generate_key())


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    return Checkpoint(8, ROOTS[7], "2025-03-21T08:30:00.000000Z", "mosque-centers/hq-log/v1")


def test_checkpoint_canonical_bytes(checkpoint: Checkpoint) -> None:
    assert checkpoint.canonical() == (
        b'{"log_id":"mosque-centers/hq-log/v1","root":"' + ROOTS[7].encode()
        + b'","time":"2025-03-21T08:30:00.000000Z","tree_size":8}'
    )


def test_checkpoint_signs_and_verifies(checkpoint: Checkpoint, log_signer: InMemorySigner) -> None:
    signed = sign_checkpoint(checkpoint, log_signer)
    assert signed.key_id == log_signer.key_id
    verify_checkpoint(signed, log_signer.public_key_pem)
    again = SignedCheckpoint.from_dict(signed.as_dict())
    assert again == signed
    verify_checkpoint(again, log_signer.public_key_pem)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 9},
        {"root": ROOTS[6]},
        {"time": "2025-03-21T08:30:00.000001Z"},
        {"log_id": "another-log"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_checkpoint_field_is_signed(checkpoint: Checkpoint, log_signer: InMemorySigner,
                                          change: dict[str, object]) -> None:
    signed = sign_checkpoint(checkpoint, log_signer)
    forged = dataclasses.replace(signed, checkpoint=dataclasses.replace(checkpoint, **change))
    with pytest.raises(CheckpointError):
        verify_checkpoint(forged, log_signer.public_key_pem)


def test_checkpoint_signature_failures(checkpoint: Checkpoint, log_signer: InMemorySigner) -> None:
    signed = sign_checkpoint(checkpoint, log_signer)
    other = InMemorySigner(generate_key())
    with pytest.raises(CheckpointError):  # another key, even if the checkpoint names it
        verify_checkpoint(dataclasses.replace(signed, key_id=other.key_id), other.public_key_pem)
    with pytest.raises(CheckpointError):  # the right key, but the checkpoint names another
        verify_checkpoint(dataclasses.replace(signed, key_id=other.key_id), log_signer.public_key_pem)
    for signature in ("", "not base64!", base64.b64encode(b"\x30\x00").decode()):
        with pytest.raises(CheckpointError):
            verify_checkpoint(dataclasses.replace(signed, signature=signature), log_signer.public_key_pem)
    with pytest.raises(CheckpointError):
        verify_checkpoint(signed, "not a key")


@pytest.mark.parametrize(
    "fields",
    [
        (-1, ROOTS[0], "2025-03-21T08:30:00.000000Z", "log"),
        (True, ROOTS[0], "2025-03-21T08:30:00.000000Z", "log"),
        (1, ROOTS[0].upper(), "2025-03-21T08:30:00.000000Z", "log"),
        (1, ROOTS[0][:-2], "2025-03-21T08:30:00.000000Z", "log"),
        (1, ROOTS[0], "2025-03-21T08:30:00Z", "log"),
        (1, ROOTS[0], "2025-03-21T08:30:00.000000Z", ""),
    ],
)
def test_malformed_checkpoints_are_refused(fields: tuple[object, ...]) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(*fields)  # type: ignore[arg-type]


def test_signed_checkpoint_from_dict_is_strict(checkpoint: Checkpoint, log_signer: InMemorySigner) -> None:
    data = sign_checkpoint(checkpoint, log_signer).as_dict()
    for broken in ({**data, "extra": 1}, {k: v for k, v in data.items() if k != "signature"},
                   {**data, "signature": None}, {**data, "tree_size": "8"}, []):
        with pytest.raises(CheckpointError):
            SignedCheckpoint.from_dict(broken)  # type: ignore[arg-type]


def stored_subtrees(leaves: list[bytes]) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
    """The log kept as a store keeps it: leaf by leaf, its frontier and the subtrees each leaf completes."""
    frontier: list[bytes] = []
    nodes = {}
    for index, leaf in enumerate(leaves):
        frontier, completed = frontier_append(frontier, index, leaf)
        nodes[(0, index)] = leaf
        nodes.update({(level, at): value for level, at, value in completed})
    return frontier, nodes


@pytest.mark.parametrize("size", SIZES)
def test_stored_subtrees_give_the_same_roots_and_proofs(size: int) -> None:
    leaves = BIG[:size]
    frontier, nodes = stored_subtrees(leaves)
    assert frontier_root(frontier) == root(leaves)
    levels = complete_subtrees(leaves) if leaves else [[]]
    assert nodes == {(level, index): value for level, values in enumerate(levels) for index, value in enumerate(values)}
    for index in range(size):
        assert range_hashes(inclusion_ranges(index, size), nodes) == inclusion_proof(index, leaves)
    for old in range(1, size + 1):
        assert range_hashes([(0, old)], nodes) == [root(leaves[:old])]
        assert range_hashes(consistency_ranges(old, size), nodes) == consistency_proof(old, leaves)


def test_a_stored_log_reads_few_subtrees_whatever_its_size() -> None:
    size = 1_000_003
    reads = {key for i in (0, 77_777, size - 1) for start, end in inclusion_ranges(i, size)
             for key in subtrees_of(start, end)}
    reads |= {key for start, end in consistency_ranges(999_999, size) for key in subtrees_of(start, end)}
    assert len(reads) < 3 * 20 + 20 + 8  # about log2(size) per proof, not size


def test_subtree_store_refuses_what_is_not_its_tree() -> None:
    frontier, nodes = stored_subtrees(BIG[:6])
    with pytest.raises(MerkleError):
        frontier_append(frontier, 7, BIG[6])  # the frontier of 6 leaves is not that of 7
    with pytest.raises(MerkleError):
        frontier_append(frontier[:1], 6, BIG[6])
    with pytest.raises(MerkleError):
        frontier_append(frontier, 6, b"short")
    with pytest.raises(MerkleError):
        subtrees_of(1, 3)  # no range of the recursion starts off its alignment
    with pytest.raises(MerkleError):
        subtrees_of(2, 2)
    del nodes[(2, 0)]
    with pytest.raises(MerkleError, match=r"\(2, 0\)"):
        range_hashes([(0, 6)], nodes)
