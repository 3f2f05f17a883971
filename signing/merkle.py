"""The global append-only Merkle log: RFC 6962/9162 hashing, proofs and signed checkpoints.

Two ways to hold a log:

* the sequence of its leaf hashes in index order: roots and proofs hash at most about
  n nodes, without recursion, so a log of a million leaves costs one pass and no deep stack;
* its complete subtrees, as a store that keeps every node hash of level >= 1 once it is
  complete (``frontier_append`` says which) and its frontier: then a root or a proof
  reads O(log^2 n) stored hashes (``subtrees_of``, ``inclusion_ranges``,
  ``consistency_ranges``, ``range_hashes``), whatever the size of the log.

A complete subtree is named (level, index): the 2**level leaves from index * 2**level.
"""

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .canonical import canonical_bytes
from .errors import (
    BadSignatureError,
    CheckpointError,
    ConsistencyProofError,
    InclusionProofError,
    KeyFormatError,
    MerkleError,
    RecordError,
)
from .keys import key_id, load_public_key
from .records import parse_time
from .signer import Signer, verify_signature

__all__ = [
    "CHECKPOINT_DOMAIN",
    "EMPTY_ROOT",
    "Checkpoint",
    "SignedCheckpoint",
    "complete_subtrees",
    "consistency_proof",
    "consistency_ranges",
    "frontier_append",
    "frontier_root",
    "inclusion_proof",
    "inclusion_proofs",
    "inclusion_ranges",
    "leaf_hash",
    "record_leaf_hash",
    "range_hashes",
    "root",
    "sign_checkpoint",
    "subtrees_of",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]

#: Prefix of every signed checkpoint message, so the signature means nothing elsewhere.
CHECKPOINT_DOMAIN = b"mosque-centers:log-checkpoint:v1\n"

#: MTH({}) = SHA-256 of the empty string (RFC 6962 section 2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

_HASH_SIZE = 32
_HEX64 = re.compile(r"[0-9a-f]{64}")
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    if not isinstance(data, bytes):
        raise MerkleError("leaf data must be bytes")
    return _sha256(b"\x00" + data).digest()


def record_leaf_hash(record_hash: str) -> bytes:
    """Return the log leaf of a signed record: leaf_hash of its 32-byte SHA-256 (given in hex)."""
    if type(record_hash) is not str or _HEX64.fullmatch(record_hash) is None:
        raise MerkleError("record hash must be 64 lowercase hex digits")
    return leaf_hash(bytes.fromhex(record_hash))


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (RFC 6962 MTH) of the leaves; EMPTY_ROOT for none."""
    return _climb(_leaves(leaf_hashes), [])[0]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the audit path (RFC 9162 PATH) of leaf `index` in the tree of all the leaves."""
    return inclusion_proofs([index], leaf_hashes)[0]


def inclusion_proofs(indexes: Sequence[int], leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Return the audit paths of several leaves at the cost of one root computation."""
    hashes = _leaves(leaf_hashes)
    for index in indexes:
        if not _size(index) or index >= len(hashes):
            raise MerkleError(f"leaf index {index!r} is not in a tree of {len(hashes)} leaves")
    return _climb(hashes, list(indexes))[1]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the proof (RFC 9162 PROOF) that the first `old_size` leaves are a prefix of all."""
    hashes = _leaves(leaf_hashes)
    if not _size(old_size) or old_size > len(hashes):
        raise MerkleError(f"old size {old_size!r} is not within a tree of {len(hashes)} leaves")
    if old_size in (0, len(hashes)):
        return []
    return [_subtree(hashes, start, end) for start, end in consistency_ranges(old_size, len(hashes))]


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose tree hashes are the audit path of leaf `index`, leaf first."""
    if not _size(index) or not _size(tree_size) or index >= tree_size:
        raise MerkleError(f"leaf index {index!r} is not in a tree of {tree_size!r} leaves")
    path = []
    start, end = 0, tree_size
    while end - start > 1:
        split = _split(end - start)
        if index < start + split:
            path.append((start + split, end))
            end = start + split
        else:
            path.append((start, start + split))
            start += split
    return path[::-1]


def consistency_ranges(old_size: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose tree hashes are the consistency proof from `old_size`."""
    if not _size(old_size) or not _size(tree_size) or old_size > tree_size:
        raise MerkleError(f"old size {old_size!r} is not within a tree of {tree_size!r} leaves")
    if old_size in (0, tree_size):
        return []
    # SUBPROOF(m, D[start:end], whole) unrolled: each step appends one subtree
    # after the proof of the part that still contains the old tree's right edge.
    tail = []
    start, end, whole, m = 0, tree_size, True, old_size
    while m != end - start:
        split = _split(end - start)
        if m <= split:
            tail.append((start + split, end))
            end = start + split
        else:
            tail.append((start, start + split))
            start, m, whole = start + split, m - split, False
    head = [] if whole else [(start, end)]
    return head + tail[::-1]


def subtrees_of(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (level, index), left to right, whose hashes make MTH(D[start:end]).

    The range must be one of RFC 6962's recursion (as every range of a root or proof is):
    its left parts are then complete and aligned.
    """
    if not _size(start) or not _size(end) or start >= end:
        raise MerkleError(f"[{start!r}, {end!r}) is not a range of leaves")
    parts = []
    while True:
        size = end - start
        part = size if size & (size - 1) == 0 else _split(size)
        level = part.bit_length() - 1
        if start & (part - 1):
            raise MerkleError(f"[{start}, {end}) is not a range of the tree's recursion")
        parts.append((level, start >> level))
        if part == size:
            return parts
        start += part


def range_hashes(ranges: Sequence[tuple[int, int]], nodes: Mapping[tuple[int, int], bytes]) -> list[bytes]:
    """MTH of each leaf range, from the complete subtree hashes in `nodes` ((level, index) -> hash;
    level 0 are the leaf hashes). A missing subtree raises MerkleError."""
    hashes = []
    for start, end in ranges:
        try:
            parts = [nodes[key] for key in subtrees_of(start, end)]
        except KeyError as exc:
            raise MerkleError(f"the log has no hash of subtree {exc.args[0]}") from exc
        value = parts[-1]
        for left in reversed(parts[:-1]):
            value = _node(left, value)
        hashes.append(value)
    return hashes


def frontier_append(frontier: Sequence[bytes], size: int, leaf: bytes) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf number `size` to a tree held as its frontier (the hashes of its complete
    subtrees of decreasing size, one per set bit of `size`). Return the new frontier and the
    subtrees (level, index, hash) of level >= 1 the leaf completed."""
    _check_hash(leaf, MerkleError, "leaf hash")
    frontier = list(frontier)
    if not _size(size) or len(frontier) != size.bit_count() or _hashes(frontier) is None:
        raise MerkleError(f"a frontier of {len(frontier)} hashes is not that of a tree of {size!r} leaves")
    completed = []
    value, level = leaf, 0
    while size >> level & 1:
        value = _node(frontier.pop(), value)
        level += 1
        completed.append((level, size >> level, value))
    frontier.append(value)
    return frontier, completed


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree whose frontier this is."""
    if not frontier:
        return EMPTY_ROOT
    value = frontier[-1]
    for left in reversed(frontier[:-1]):
        value = _node(left, value)
    return value


def complete_subtrees(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every complete subtree hash of the leaves: item `level` lists that level's, by index
    (item 0 is the leaves themselves)."""
    levels = [_leaves(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([_node(left, right) for left, right in zip(below[::2], below[1::2])])
    return levels


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2); raise InclusionProofError if it fails."""
    _check_hash(leaf_hash, InclusionProofError, "leaf hash")
    _check_hash(root, InclusionProofError, "root")
    path = _proof(proof, InclusionProofError)
    if not _size(index) or not _size(tree_size) or index >= tree_size:
        raise InclusionProofError(f"leaf index {index!r} is not in a tree of {tree_size!r} leaves")
    fn, sn = index, tree_size - 1
    computed = leaf_hash
    for sibling in path:
        if sn == 0:
            raise InclusionProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            computed = _node(sibling, computed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            computed = _node(computed, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionProofError("inclusion proof is too short")
    if computed != root:
        raise InclusionProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 section 2.1.4.2); raise ConsistencyProofError if it fails."""
    _check_hash(old_root, ConsistencyProofError, "old root")
    _check_hash(new_root, ConsistencyProofError, "new root")
    path = _proof(proof, ConsistencyProofError)
    if not _size(old_size) or not _size(new_size) or old_size > new_size:
        raise ConsistencyProofError(f"sizes {old_size!r} -> {new_size!r} do not grow")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise ConsistencyProofError("the root of the empty tree is not SHA-256 of nothing")
    if old_size == new_size or old_size == 0:
        if path:
            raise ConsistencyProofError("proof must be empty")
        if old_size == new_size and old_root != new_root:
            raise ConsistencyProofError("trees of the same size have different roots")
        return
    if not path:
        raise ConsistencyProofError("proof is empty")
    if old_size & (old_size - 1) == 0:
        # The old tree is a complete subtree of the new one: its root starts the path.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_computed = new_computed = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            old_computed = _node(node, old_computed)
            new_computed = _node(node, new_computed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_computed = _node(new_computed, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyProofError("consistency proof is too short")
    if old_computed != old_root:
        raise ConsistencyProofError("consistency proof does not lead to the old root")
    if new_computed != new_root:
        raise ConsistencyProofError("consistency proof does not lead to the new root")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: what the log looked like at one moment."""

    #: Number of leaves in the tree.
    tree_size: int
    #: Lowercase hex of root() over those leaves.
    root: str
    #: When it was taken, in record time format (UTC, microseconds, "Z").
    time: str
    #: Names the log, e.g. "mosque-centers/hq-log/v1".
    log_id: str

    def __post_init__(self) -> None:
        if not _size(self.tree_size):
            raise CheckpointError("tree_size must be a non-negative integer")
        if type(self.root) is not str or _HEX64.fullmatch(self.root) is None:
            raise CheckpointError("root must be 64 lowercase hex digits")
        try:
            parse_time(self.time)
        except RecordError as exc:
            raise CheckpointError(f"time: {exc}") from exc
        if type(self.log_id) is not str or not self.log_id:
            raise CheckpointError("log_id must be a non-empty string")

    def canonical(self) -> bytes:
        """Return the canonical JSON bytes of the checkpoint (the signature covers DOMAIN + these)."""
        return canonical_bytes(
            {"log_id": self.log_id, "root": self.root, "time": self.time, "tree_size": self.tree_size}
        )


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with the log key's signature."""

    #: The signed tree head.
    checkpoint: Checkpoint
    #: Base64 of the DER ECDSA-SHA256 signature over CHECKPOINT_DOMAIN + checkpoint.canonical().
    signature: str
    #: key_id of the log signing key.
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form: the checkpoint's fields plus signature and key_id."""
        return {**json.loads(self.checkpoint.canonical()), "signature": self.signature, "key_id": self.key_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SignedCheckpoint":
        """Read the JSON form written by as_dict; raise CheckpointError if it is malformed."""
        keys = {"log_id", "root", "time", "tree_size", "signature", "key_id"}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise CheckpointError(f"a signed checkpoint has exactly the keys {sorted(keys)}")
        if type(data["signature"]) is not str or type(data["key_id"]) is not str:
            raise CheckpointError("signature and key_id must be strings")
        checkpoint = Checkpoint(data["tree_size"], data["root"], data["time"], data["log_id"])
        return cls(checkpoint, data["signature"], data["key_id"])


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
    """Sign CHECKPOINT_DOMAIN + the checkpoint's canonical bytes with the log key."""
    message = CHECKPOINT_DOMAIN + checkpoint.canonical()
    signature = signer.sign(message)
    # A faulty or remote signer must not get an unverifiable checkpoint published.
    verify_signature(signer.public_key_pem, message, signature)
    return SignedCheckpoint(checkpoint, base64.b64encode(signature).decode("ascii"), signer.key_id)


def verify_checkpoint(signed: SignedCheckpoint, public_key_pem: str) -> None:
    """Verify a checkpoint's signature by the given log key; raise CheckpointError if it fails."""
    try:
        kid = key_id(load_public_key(public_key_pem))
    except KeyFormatError as exc:
        raise CheckpointError(f"log key is unusable: {exc}") from exc
    if signed.key_id != kid:
        raise CheckpointError("checkpoint names another key than the log key given")
    try:
        signature = base64.b64decode(signed.signature, validate=True)
        if not signature:
            raise CheckpointError("checkpoint is not signed")
        verify_signature(public_key_pem, CHECKPOINT_DOMAIN + signed.checkpoint.canonical(), signature)
    except (BadSignatureError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint signature does not verify: {exc}") from exc


def _node(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _subtree(hashes: list[bytes], start: int, end: int) -> bytes:
    """MTH of hashes[start:end]."""
    return _climb(hashes[start:end], [])[0]


def _climb(level: list[bytes], positions: list[int]) -> tuple[bytes, list[list[bytes]]]:
    """Hash the tree level by level (n - 1 node hashes); collect each position's audit path.

    Pairing from the left and carrying an odd last node up unchanged builds exactly
    RFC 6962's tree, whose left subtrees are always complete; a carried node adds
    nothing to its path.
    """
    if not level:
        return EMPTY_ROOT, []
    paths: list[list[bytes]] = [[] for _ in positions]
    while len(level) > 1:
        for path, position in zip(paths, positions):
            if position ^ 1 < len(level):
                path.append(level[position ^ 1])
        paired = [_sha256(b"\x01" + left + right).digest() for left, right in zip(level[::2], level[1::2])]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
        positions = [position >> 1 for position in positions]
    return level[0], paths


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _size(value: object) -> bool:
    return type(value) is int and value >= 0


def _hashes(values: Sequence[bytes]) -> list[bytes] | None:
    """A list copy of `values` if every item is exactly 32 bytes, else None."""
    if isinstance(values, (str, bytes, bytearray)):
        return None
    items = list(values)
    # map() keeps the check in C: a tenth of the hashing cost for a million leaves.
    if items and (set(map(type, items)) != {bytes} or set(map(len, items)) != {_HASH_SIZE}):
        return None
    return items


def _leaves(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    hashes = _hashes(leaf_hashes)
    if hashes is None:
        raise MerkleError("leaf hashes must be a sequence of 32-byte values")
    return hashes


def _check_hash(value: object, error: type[MerkleError], name: str) -> None:
    if type(value) is not bytes or len(value) != _HASH_SIZE:
        raise error(f"{name} must be 32 bytes")


def _proof(proof: Sequence[bytes], error: type[MerkleError]) -> list[bytes]:
    path = _hashes(proof)
    if path is None:
        raise error("a proof must be a sequence of 32-byte values")
    return path
