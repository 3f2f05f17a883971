"""Signed transition records and chain verification: every stored byte must matter."""

import base64
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from signing import (
    BODY_KEYS,
    DOMAIN,
    BadSignatureError,
    ChainError,
    InMemorySigner,
    RecordError,
    SignedRecord,
    StoredRecord,
    canonical_bytes,
    digest,
    format_time,
    generate_key,
    record_hash,
    require_valid,
    sha256_hex,
    sign_record,
    verify_chain,
    verify_signature,
)

CASE_ID = "case-0001"
START = datetime(2025, 3, 21, 8, 30, 0, 123456, tzinfo=timezone.utc)
APPLICANT = {"user_id": 7, "username": "founder7", "role": "applicant", "office": None}
OFFICER = {"user_id": 12, "username": "county12", "role": "county_officer", "office": "county-tehran-03"}


@dataclasses.dataclass(frozen=True)
class Chain:
    records: list[StoredRecord]
    bodies: list[dict[str, Any]]
    forms: list[dict[str, Any] | None]
    signers: dict[int, InMemorySigner]
    public_keys: dict[str, str]
    key_owners: dict[str, int]


def make_body(seq: int, prev_hash: str | None, actor: dict[str, Any], key_id: str,
              action: str, form: dict[str, Any] | None) -> dict[str, Any]:
    """A valid record body for the test case."""
    return {
        "v": 1,
        "case_id": CASE_ID,
        "seq": seq,
        "process_key": "center_license",
        "spec_version": "sha256:" + "ab" * 32,
        "task_id": None if action == "submit" else f"task-{seq}",
        "task_name": None if action == "submit" else "بررسی\u200cهای شهرستان",
        "action": action,
        "actor": dict(actor),
        "key_id": key_id,
        "form_key": "center_application" if form is not None else None,
        "form_digest": digest(form) if form is not None else None,
        "attachments": sorted(["0f" * 32, "a1" * 32]) if action == "submit" else [],
        "rule_results": {"manager_age_ok": True, "table": "manager_rules@3"} if seq == 1 else None,
        "details": {"comment": "مدارک ناقص است"} if action == "return" else {},
        "time": format_time(START + timedelta(minutes=seq)),
        "prev_hash": prev_hash,
    }


def stored(record: SignedRecord, form: dict[str, Any] | None) -> StoredRecord:
    """The row a database would hold for a signed record."""
    return StoredRecord(
        seq=record.body["seq"],
        canonical=record.canonical,
        hash=record.hash,
        signature=record.signature,
        key_id=record.key_id,
        form_data=canonical_bytes(form).decode("utf-8") if form is not None else None,
        action=record.body["action"],
        actor_user_id=record.body["actor"]["user_id"],
        case_id=record.body["case_id"],
    )


@pytest.fixture(scope="module")
def signers() -> dict[int, InMemorySigner]:
    """One in-memory signer per actor, by user id."""
    return {APPLICANT["user_id"]: InMemorySigner(generate_key()),
            OFFICER["user_id"]: InMemorySigner(generate_key())}


@pytest.fixture(scope="module")
def chain(signers: dict[int, InMemorySigner]) -> Chain:
    """submit (form) -> return (form) -> resubmit (form) -> approve (no form)."""
    steps = [
        (APPLICANT, "submit", {"center_name": "کانون فرهنگی هنری مسجد امام\u200cرضا", "founders": 3}),
        (OFFICER, "return", {"reason": "incomplete"}),
        (APPLICANT, "resubmit", {"center_name": "کانون فرهنگی هنری مسجد امام\u200cرضا", "founders": 4}),
        (OFFICER, "approve", None),
    ]
    records, bodies, forms = [], [], []
    prev_hash = None
    for seq, (actor, action, form) in enumerate(steps, start=1):
        signer = signers[actor["user_id"]]
        body = make_body(seq, prev_hash, actor, signer.key_id, action, form)
        record = sign_record(body, signer)
        records.append(stored(record, form))
        bodies.append(body)
        forms.append(form)
        prev_hash = record.hash
    return Chain(
        records=records,
        bodies=bodies,
        forms=forms,
        signers=signers,
        public_keys={s.key_id: s.public_key_pem for s in signers.values()},
        key_owners={s.key_id: user_id for user_id, s in signers.items()},
    )


INDEXES = range(4)


def verify(chain: Chain, records: list[StoredRecord], **kwargs: Any):
    return verify_chain(CASE_ID, records, chain.public_keys, **kwargs)


def problems_at(report, position: int) -> set[str]:
    return {problem.code for problem in report.problems if problem.seq == position}


def replaced(records: list[StoredRecord], index: int, **changes: Any) -> list[StoredRecord]:
    copy = list(records)
    copy[index] = dataclasses.replace(copy[index], **changes)
    return copy


# --- signing --------------------------------------------------------------------------


def test_signed_record_fields(chain: Chain) -> None:
    body = chain.bodies[0]
    signer = chain.signers[body["actor"]["user_id"]]
    record = sign_record(body, signer)
    assert record.body == body and record.body is not body
    assert record.canonical.encode() == canonical_bytes(body)
    assert record.hash == record_hash(body) == sha256_hex(canonical_bytes(body))
    assert record.key_id == signer.key_id
    verify_signature(signer.public_key_pem, DOMAIN + canonical_bytes(body), base64.b64decode(record.signature))
    # The signature covers the domain prefix: the bare canonical bytes do not verify.
    with pytest.raises(BadSignatureError):
        verify_signature(signer.public_key_pem, canonical_bytes(body), base64.b64decode(record.signature))


def test_sign_record_refuses_a_key_id_that_is_not_the_signers(chain: Chain) -> None:
    body = chain.bodies[0]
    with pytest.raises(RecordError):
        sign_record(body, chain.signers[OFFICER["user_id"]])


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


def invalid_bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    missing = dict(body)
    del missing["details"]
    return [
        missing,
        _with(body, extra=1),
        _with(body, v=True),
        _with(body, v=2),
        _with(body, seq=True),
        _with(body, seq=0),
        _with(body, case_id=""),
        _with(body, action="Approve"),
        _with(body, actor={**body["actor"], "user_id": True}),
        _with(body, actor={**body["actor"], "extra": 1}),
        _with(body, key_id=body["key_id"].upper()),
        _with(body, form_digest="sha256:" + "0" * 63),
        _with(body, attachments=["a1" * 32, "0f" * 32]),
        _with(body, attachments=["0f" * 32, "0f" * 32]),
        _with(body, attachments=["0F" * 32]),
        _with(body, rule_results=[]),
        _with(body, details=None),
        _with(body, details={"ratio": 0.5}),
        _with(body, time="2025-03-21T08:31:00Z"),
        _with(body, time="2025-03-21T08:31:00.000000+00:00"),
        _with(body, time="2025-02-30T08:31:00.000000Z"),
        _with(body, prev_hash="ab" * 32),  # seq 1 must have no prev_hash
        _with(body, seq=2),  # seq 2 must have a prev_hash
    ]


def test_sign_record_validates_the_body(chain: Chain) -> None:
    body = chain.bodies[0]
    signer = chain.signers[body["actor"]["user_id"]]
    for bad in invalid_bodies(body):
        with pytest.raises(RecordError):
            sign_record(bad, signer)


def test_format_time() -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    assert format_time(datetime(2025, 3, 21, 12, 0, tzinfo=tehran)) == "2025-03-21T08:30:00.000000Z"
    with pytest.raises(RecordError):
        format_time(datetime(2025, 3, 21, 12, 0))


# --- a valid chain -----------------------------------------------------------------------


def test_chain_verifies(chain: Chain) -> None:
    for kwargs in ({}, {"key_owners": chain.key_owners}):
        report = verify(chain, chain.records, **kwargs)
        assert report.ok, report.problems
        assert report.problems == ()
        assert report.count == 4
        assert report.head == chain.records[-1].hash
        require_valid(report)
    assert [r.form_data is not None for r in chain.records] == [True, True, True, False]


def test_empty_chain_is_ok_with_no_head(chain: Chain) -> None:
    report = verify(chain, [])
    assert (report.ok, report.head, report.count, report.problems) == (True, None, 0, ())


def test_require_valid_raises(chain: Chain) -> None:
    report = verify_chain("another-case", chain.records, chain.public_keys)
    assert not report.ok
    assert report.head is None and report.count == 0
    with pytest.raises(ChainError) as info:
        require_valid(report)
    assert info.value.report is report
    assert info.value.code == "chain_invalid"
    assert "case_mismatch" in str(info.value)


# --- every stored column -----------------------------------------------------------------


def _flip_signature(row: StoredRecord) -> str:
    raw = base64.b64decode(row.signature)
    return base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()


def _other_form(row: StoredRecord) -> str:
    if row.form_data is None:
        return "{}"
    form = json.loads(row.form_data)
    form["injected"] = 1
    return canonical_bytes(form).decode()


STORED_MUTATIONS: dict[str, tuple[Callable[[StoredRecord], Any], str]] = {
    "seq": (lambda row: row.seq + 1, "seq_gap"),
    "canonical": (lambda row: row.canonical.replace(":", ": ", 1), "not_canonical"),
    "hash": (lambda row: sha256_hex(b"forged"), "hash_mismatch"),
    "signature": (_flip_signature, "bad_signature"),
    "key_id": (lambda row: sha256_hex(row.key_id.encode()), "key_mismatch"),
    "form_data": (_other_form, "form_digest_mismatch"),
    "action": (lambda row: "reject", "column_mismatch"),
    "actor_user_id": (lambda row: row.actor_user_id + 1, "column_mismatch"),
    "case_id": (lambda row: "case-0002", "column_mismatch"),
}


def test_every_stored_field_has_a_mutation() -> None:
    assert set(STORED_MUTATIONS) == {field.name for field in dataclasses.fields(StoredRecord)}


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("field", sorted(STORED_MUTATIONS))
def test_changing_any_stored_field_is_reported(chain: Chain, field: str, index: int) -> None:
    mutate, code = STORED_MUTATIONS[field]
    row = chain.records[index]
    records = replaced(chain.records, index, **{field: mutate(row)})
    report = verify(chain, records)
    assert not report.ok
    assert code in problems_at(report, index + 1), report.problems
    assert report.count == index and report.head == (chain.records[index - 1].hash if index else None)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("seq", True, "seq_gap"),  # True == 1 in Python; not in a chain
        ("actor_user_id", 7.0, "column_mismatch"),
        ("signature", "not base64!", "bad_signature"),
        ("signature", "", "bad_signature"),
        ("form_data", None, "form_digest_mismatch"),
        ("form_data", '{"center_name": 1}', "form_data_malformed"),
        ("form_data", "{", "form_data_malformed"),
        ("form_data", '{"x":1.5}', "form_data_malformed"),
        ("canonical", "{", "malformed"),
        ("canonical", "[]", "malformed"),
        ("canonical", '{"v":1,"v":1}', "malformed"),
        ("canonical", '{"v":NaN}', "malformed"),
        ("canonical", "\ud800", "malformed"),
    ],
)
def test_odd_stored_values_are_reported(chain: Chain, field: str, value: Any, code: str) -> None:
    report = verify(chain, replaced(chain.records, 0, **{field: value}))
    assert code in problems_at(report, 1), report.problems


def test_non_canonical_key_order_is_reported(chain: Chain) -> None:
    body = json.loads(chain.records[1].canonical)
    text = json.dumps(dict(reversed(body.items())), ensure_ascii=False, separators=(",", ":"))
    assert text != chain.records[1].canonical and json.loads(text) == body
    report = verify(chain, replaced(chain.records, 1, canonical=text))
    assert {"not_canonical", "bad_signature", "hash_mismatch"} <= problems_at(report, 2)
    assert "prev_hash_mismatch" in problems_at(report, 3)


# --- every body key ----------------------------------------------------------------------

Mutation = Callable[[dict[str, Any], int, Chain], tuple[Any, set[str]]]


def _other_key(body: dict[str, Any], index: int, chain: Chain) -> tuple[Any, set[str]]:
    other = next(kid for kid in chain.public_keys if kid != body["key_id"])
    return other, {"key_mismatch", "bad_signature"}


def _form_digest(body: dict[str, Any], index: int, chain: Chain) -> tuple[Any, set[str]]:
    return digest({"forged": True}), {"form_digest_mismatch", "bad_signature"}


def _prev_hash(body: dict[str, Any], index: int, chain: Chain) -> tuple[Any, set[str]]:
    if body["prev_hash"] is None:
        return "00" * 32, {"malformed"}
    return sha256_hex(b"elsewhere"), {"prev_hash_mismatch", "bad_signature"}


def _seq(body: dict[str, Any], index: int, chain: Chain) -> tuple[Any, set[str]]:
    if body["seq"] == 1:
        return 2, {"malformed"}  # seq 2 without prev_hash
    return body["seq"] + 1, {"seq_gap", "bad_signature"}


def _content(value: Callable[[Any], Any]) -> Mutation:
    return lambda body, index, chain: (value(body), {"bad_signature"})


BODY_MUTATIONS: dict[str, Mutation] = {
    "v": lambda body, index, chain: (2, {"malformed"}),
    "case_id": lambda body, index, chain: ("case-0002", {"case_mismatch", "column_mismatch", "bad_signature"}),
    "seq": _seq,
    "process_key": _content(lambda body: "other_process"),
    "spec_version": _content(lambda body: "sha256:" + "cd" * 32),
    "task_id": _content(lambda body: "task-99"),
    "task_name": _content(lambda body: (body["task_name"] or "") + "x"),
    "action": lambda body, index, chain: ("issue_license", {"column_mismatch", "bad_signature"}),
    "actor": lambda body, index, chain: (
        {**body["actor"], "user_id": 99},
        {"column_mismatch", "bad_signature"},
    ),
    "key_id": _other_key,
    "form_key": _content(lambda body: "other_form"),
    "form_digest": _form_digest,
    "attachments": _content(lambda body: sorted({*body["attachments"], "ee" * 32})),
    "rule_results": _content(lambda body: {"manager_age_ok": False}),
    "details": _content(lambda body: {**body["details"], "amount": 1}),
    "time": _content(lambda body: format_time(datetime(2030, 1, 1, tzinfo=timezone.utc))),
    "prev_hash": _prev_hash,
}


def test_every_body_key_has_a_mutation() -> None:
    assert set(BODY_MUTATIONS) == BODY_KEYS


def _mutated_body(chain: Chain, key: str, index: int) -> tuple[dict[str, Any], set[str]]:
    body = json.loads(chain.records[index].canonical)
    value, codes = BODY_MUTATIONS[key](body, index, chain)
    assert value != body[key]
    return {**body, key: value}, codes


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("key", sorted(BODY_MUTATIONS))
def test_changing_any_body_key_is_reported(chain: Chain, key: str, index: int) -> None:
    body, codes = _mutated_body(chain, key, index)
    text = canonical_bytes(body).decode()
    report = verify(chain, replaced(chain.records, index, canonical=text))
    assert (codes | {"hash_mismatch"}) <= problems_at(report, index + 1), report.problems
    if index < 3:
        assert "prev_hash_mismatch" in problems_at(report, index + 2)
    assert report.count == index


# sign_record refuses these bodies (v=2, seq 2 or a prev_hash on the first record, a key_id
# that is not the signer's), so only the unsigned mutations above can produce them.
RE_SIGNABLE = [
    (key, index)
    for key in sorted(BODY_MUTATIONS)
    for index in INDEXES
    if key not in ("v", "key_id") and not (index == 0 and key in ("seq", "prev_hash"))
]


@pytest.mark.parametrize(("key", "index"), RE_SIGNABLE)
def test_re_signed_body_change_breaks_the_link_or_a_check(chain: Chain, key: str, index: int) -> None:
    """The holder of the actor's key can sign any body; the next record's link still catches it.

    A change to the newest record signed with the actor's own key and a fresh hash column
    is invisible to the chain alone; only a head kept elsewhere reveals it.
    """
    body, codes = _mutated_body(chain, key, index)
    signer = chain.signers[chain.bodies[index]["actor"]["user_id"]]
    record = sign_record(body, signer)
    records = replaced(chain.records, index, canonical=record.canonical, hash=record.hash, signature=record.signature)
    report = verify(chain, records)
    structural = codes - {"bad_signature"}
    assert structural <= problems_at(report, index + 1), report.problems
    if index < 3:
        assert "prev_hash_mismatch" in problems_at(report, index + 2)
    elif not structural:
        assert report.ok and report.head == record.hash != chain.records[index].hash


def test_missing_and_extra_body_keys_are_malformed(chain: Chain) -> None:
    body = json.loads(chain.records[2].canonical)
    missing = {k: v for k, v in body.items() if k != "details"}
    for bad in (missing, {**body, "note": "x"}):
        report = verify(chain, replaced(chain.records, 2, canonical=canonical_bytes(bad).decode()))
        assert "malformed" in problems_at(report, 3)


# --- removal, reordering, foreign keys ---------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2])
def test_removing_a_record_is_reported(chain: Chain, index: int) -> None:
    records = chain.records[:index] + chain.records[index + 1 :]
    report = verify(chain, records)
    assert {"seq_gap", "prev_hash_mismatch"} <= problems_at(report, index + 1)
    assert report.count == index


def test_removing_the_last_record_only_moves_the_head(chain: Chain) -> None:
    """Truncation is invisible inside the chain: compare the head with one kept elsewhere."""
    report = verify(chain, chain.records[:3])
    assert report.ok
    assert report.head == chain.records[2].hash != chain.records[3].hash
    assert report.count == 3


def test_swapping_two_records_is_reported(chain: Chain) -> None:
    records = [chain.records[0], chain.records[2], chain.records[1], chain.records[3]]
    report = verify(chain, records)
    assert {"seq_gap", "prev_hash_mismatch"} <= problems_at(report, 2)
    assert {"seq_gap", "prev_hash_mismatch"} <= problems_at(report, 3)
    assert "prev_hash_mismatch" in problems_at(report, 4)


def _forged(chain: Chain, index: int, signer: InMemorySigner, body_key_id: str) -> tuple[StoredRecord, str]:
    body = {**json.loads(chain.records[index].canonical), "details": {"forged": True}, "key_id": body_key_id}
    canonical = canonical_bytes(body)
    signature = base64.b64encode(signer.sign(DOMAIN + canonical)).decode()
    row = dataclasses.replace(
        chain.records[index],
        canonical=canonical.decode(),
        hash=sha256_hex(canonical),
        signature=signature,
        key_id=signer.key_id,
    )
    return row, signer.key_id


def test_re_signing_with_an_unknown_key_is_reported(chain: Chain) -> None:
    rogue = InMemorySigner(generate_key())
    row, _ = _forged(chain, 3, rogue, rogue.key_id)
    report = verify(chain, replaced(chain.records, 3, **dataclasses.asdict(row)))
    assert problems_at(report, 4) == {"unknown_key"}


def test_re_signing_with_another_key_under_the_actors_key_id_is_reported(chain: Chain) -> None:
    rogue = InMemorySigner(generate_key())
    actor_key = chain.records[3].key_id
    row, _ = _forged(chain, 3, rogue, actor_key)
    report = verify(chain, replaced(chain.records, 3, **dataclasses.asdict(row)))
    assert {"key_mismatch", "bad_signature"} <= problems_at(report, 4)


def test_another_users_known_key_is_caught_with_key_owners(chain: Chain) -> None:
    applicant = chain.signers[chain.bodies[0]["actor"]["user_id"]]
    row, _ = _forged(chain, 3, applicant, applicant.key_id)  # record 4 is the officer's
    records = replaced(chain.records, 3, **dataclasses.asdict(row))
    assert problems_at(verify(chain, records, key_owners=chain.key_owners), 4) == {"key_mismatch"}
    # Without key_owners, any known key is accepted: callers must pass key_owners.
    assert verify(chain, records).ok


def test_a_public_key_filed_under_the_wrong_id_is_refused(chain: Chain) -> None:
    swapped = dict(zip(chain.public_keys, reversed(list(chain.public_keys.values()))))
    report = verify_chain(CASE_ID, chain.records, swapped)
    assert all(problem.code == "key_mismatch" for problem in report.problems)
    assert {problem.seq for problem in report.problems} == {1, 2, 3, 4}
    garbage = {kid: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" for kid in chain.public_keys}
    assert {p.code for p in verify_chain(CASE_ID, chain.records, garbage).problems} == {"key_mismatch"}


def test_records_of_another_case_are_reported(chain: Chain) -> None:
    report = verify_chain("case-0002", chain.records, chain.public_keys)
    assert [problem.seq for problem in report.problems if problem.code == "case_mismatch"] == [1, 2, 3, 4]


def test_make_body_and_stored_helpers_round_trip(chain: Chain) -> None:
    # The fixture helpers themselves produce what verify_chain expects.
    signer = chain.signers[OFFICER["user_id"]]
    body = make_body(5, chain.records[3].hash, OFFICER, signer.key_id, "issue_license", {"license_no": "1404-77"})
    record = sign_record(body, signer)
    report = verify(chain, [*chain.records, stored(record, {"license_no": "1404-77"})])
    assert report.ok and report.count == 5 and report.head == record.hash
