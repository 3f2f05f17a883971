"""Evidence bundles: a good one verifies from the root alone; each kind of forgery has its code."""

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import CASE_ID, LOG_ORIGIN, OFFICER, START, Case, Pki, founding_steps, party, record_body, signed_case
from cryptography import x509

from signing import (
    BUNDLE_FORMAT,
    BundleError,
    BundleRecord,
    BundleReport,
    CaseHead,
    Purpose,
    StoredRecord,
    Subject,
    build_bundle,
    canonical_bytes,
    certificate_pem,
    create_root_ca,
    crl_pem,
    format_time,
    generate_ca_key,
    generate_key,
    issue_ca,
    issue_end_entity,
    load_bundle,
    record_leaf_hash,
    sign_case_head,
    sign_checkpoint_note,
    sign_record,
    verify_bundle,
)
from signing.merkle import inclusion_proofs, root


def verify(pki: Pki, bundle: dict[str, Any], **kwargs: Any) -> BundleReport:
    return verify_bundle(bundle, certificate_pem(pki.root), **kwargs)


def codes(report: BundleReport) -> set[tuple[int | None, str]]:
    return {(problem.seq, problem.code) for problem in report.problems}


def mutated(case: Case) -> dict[str, Any]:
    return copy.deepcopy(case.bundle)


def test_good_bundle_verifies(pki: Pki, case: Case, no_network: list[object]) -> None:
    report = verify(pki, case.bundle)
    assert report.ok, report.problems
    assert report.case_id == CASE_ID
    assert report.count == 4
    assert report.head == case.records[-1].hash
    assert report.tree_size == len(case.leaf_hashes)
    assert report.checkpoint_time is not None
    assert no_network == []


def test_bundle_shape(pki: Pki, case: Case) -> None:
    bundle = case.bundle
    assert bundle["format"] == BUNDLE_FORMAT
    assert [record["log_index"] for record in bundle["records"]] == case.log_indexes
    assert len(bundle["signers"]) == 2 and len(bundle["crls"]) == 3
    pems = json.dumps(bundle)
    assert certificate_pem(pki.root).strip().splitlines()[1] not in pems  # the root stays out
    assert load_bundle(canonical_bytes(bundle)) == bundle


def test_changed_record_field(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    record = bundle["records"][3]
    record["canonical"] = record["canonical"].replace('"approve"', '"reject"')
    assert (4, "bad_signature") in codes(verify(pki, bundle))


def test_changed_form_data(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    bundle["records"][0]["form_data"] = bundle["records"][0]["form_data"].replace("5", "9")
    assert codes(verify(pki, bundle)) == {(1, "form_digest_mismatch")}


def test_removed_record(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    del bundle["records"][1]
    found = codes(verify(pki, bundle))
    assert (2, "seq_gap") in found and (2, "prev_hash_mismatch") in found


def test_reordered_records(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    bundle["records"][1], bundle["records"][2] = bundle["records"][2], bundle["records"][1]
    found = codes(verify(pki, bundle))
    assert {(2, "seq_gap"), (2, "prev_hash_mismatch"), (3, "log_order")} <= found


def test_swapped_certificate_for_another_key(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    stranger = party(pki.county, pki.county_key, pki.applicant.chain, Subject("Stranger", None, 7), Purpose.PERSON)
    bundle["signers"][0]["certificate"] = certificate_pem(stranger.cert)
    found = codes(verify(pki, bundle))
    assert {(1, "unknown_key"), (3, "unknown_key")} <= found


def test_swapped_certificate_from_a_rogue_ca(pki: Pki, case: Case) -> None:
    """Same key, same user id, but certified by a CA that only claims the county's name."""
    fake_root_key, fake_province_key, fake_county_key = generate_ca_key(), generate_ca_key(), generate_key()
    fake_root = create_root_ca("HQ Root CA", fake_root_key, not_before=START - timedelta(days=1))
    fake_province = issue_ca(fake_root, fake_root_key, "Markazi Province CA", fake_province_key.public_key(), 1,
                             not_before=START - timedelta(hours=2))
    fake_county = issue_ca(fake_province, fake_province_key, "Arak County CA", fake_county_key.public_key(), 0,
                           not_before=START - timedelta(hours=1))
    forged = issue_end_entity(fake_county, fake_county_key, Subject("Applicant Seven", None, 7),
                              pki.applicant.key.public_key(), Purpose.PERSON, not_before=START)
    bundle = mutated(case)
    bundle["signers"][0] = {"certificate": certificate_pem(forged),
                            "chain": [certificate_pem(fake_county), certificate_pem(fake_province)]}
    found = codes(verify(pki, bundle))
    assert {(1, "cert_untrusted"), (3, "cert_untrusted")} <= found


def test_revoked_signer_key(pki: Pki) -> None:
    """The officer's key is revoked between the return (day 2) and the approval (day 4)."""
    revoked_at = START + timedelta(days=3)
    crls = pki.crls({"county": [(pki.officer.cert.serial_number, revoked_at, x509.ReasonFlags.key_compromise)]})
    report = verify(pki, signed_case(pki, founding_steps(pki), crls=crls).bundle)
    assert codes(report) == {(4, "cert_revoked")}


def test_newer_crl_given_to_the_verifier(pki: Pki, case: Case) -> None:
    revoked_at = START + timedelta(days=3)
    newer = pki.crls({"county": [(pki.officer.cert.serial_number, revoked_at, None)]},
                     this_update=datetime.now(timezone.utc))
    assert codes(verify(pki, case.bundle, crls=newer)) == {(4, "cert_revoked")}


def test_back_dated_record(pki: Pki) -> None:
    steps = founding_steps(pki)
    who, actor, action, form, _ = steps[0]
    steps[0] = (who, actor, action, form, START - timedelta(days=1))  # before the applicant's certificate
    report = verify(pki, signed_case(pki, steps).bundle)
    assert codes(report) == {(1, "cert_not_valid_at_time")}


def test_record_re_signed_by_a_key_that_is_not_the_actors(pki: Pki, case: Case) -> None:
    """The applicant re-signs the approval in the officer's name and the log takes it."""
    forged_body = record_body(4, case.records[2].hash, OFFICER, pki.applicant.signer.key_id, "approve", None,
                              START + timedelta(days=4))
    forged = sign_record(forged_body, pki.applicant.signer)
    records = [*case.records[:3], StoredRecord(
        seq=4, canonical=forged.canonical, hash=forged.hash, signature=forged.signature, key_id=forged.key_id,
        form_data=None, action="approve", actor_user_id=OFFICER["user_id"], case_id=CASE_ID)]
    leaves = list(case.leaf_hashes)
    leaves[case.log_indexes[3]] = record_leaf_hash(forged.hash)
    checkpoint, head = log_statements(pki, leaves, records, case.log_indexes)
    bundle = build_bundle(CASE_ID, [BundleRecord(r, i) for r, i in zip(records, case.log_indexes)],
                          [pki.applicant.certified, pki.officer.certified], pki.crls(), checkpoint,
                          pki.log.certified, inclusion_proofs(case.log_indexes, leaves), head)
    assert codes(verify(pki, bundle)) == {(4, "key_mismatch")}


def log_statements(pki: Pki, leaves: list[bytes], records: list[StoredRecord], indexes: list[int],
                   signer: Any = None) -> tuple[str, Any]:
    """A checkpoint note of the leaves and a case head of the records' last, signed by the log key."""
    signer = signer or pki.log.signer
    tree_root = root(leaves)
    note = sign_checkpoint_note(LOG_ORIGIN, len(leaves), tree_root, signer)
    head = sign_case_head(CaseHead(CASE_ID, records[-1].seq, records[-1].hash, indexes[-1], len(leaves),
                                   tree_root.hex(), format_time(datetime.now(timezone.utc))), signer)
    return note, head


@pytest.mark.parametrize("keep", [3, 1])
def test_dropping_the_newest_records_fails(pki: Pki, case: Case, keep: int) -> None:
    """Truncation: the chain of the first records is intact, but the signed head names the last."""
    bundle = mutated(case)
    bundle["records"] = bundle["records"][:keep]
    report = verify(pki, bundle)
    assert not report.ok and codes(report) == {(None, "head_mismatch")}


def test_adding_or_reordering_records_fails(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    bundle["records"].append(copy.deepcopy(bundle["records"][-1]))
    assert (None, "head_mismatch") in codes(verify(pki, bundle))
    bundle = mutated(case)
    bundle["records"][1], bundle["records"][2] = bundle["records"][2], bundle["records"][1]
    assert not verify(pki, bundle).ok


def test_truncated_bundle_with_a_new_head_needs_the_log_key(pki: Pki, case: Case) -> None:
    """Whoever drops records must state a new head: only the log key's statement counts."""
    bundle = mutated(case)
    bundle["records"] = bundle["records"][:2]
    _, forged = log_statements(pki, case.leaf_hashes, case.records[:2], case.log_indexes[:2], pki.seal.signer)
    bundle["case_head"] = {**forged.head.as_dict(), "signature": forged.signature}
    assert codes(verify(pki, bundle)) == {(None, "head_bad_signature")}
    bundle["case_head"]["seq"] = 4
    assert (None, "head_bad_signature") in codes(verify(pki, bundle))


def test_v1_bundles_commit_to_no_head(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    bundle["format"] = "mosque-centers:evidence-bundle:v1"
    del bundle["case_head"]
    report = verify(pki, bundle)
    assert codes(report) == {(None, "bundle_malformed")} and "no case head" in report.problems[0].detail


def test_tampered_inclusion_proof(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    proof = bundle["records"][2]["inclusion_proof"]
    proof[0] = "00" * 32
    assert codes(verify(pki, bundle)) == {(3, "not_in_log")}
    bundle = mutated(case)
    bundle["records"][2]["log_index"] += 1
    assert codes(verify(pki, bundle)) == {(3, "not_in_log")}


def test_tampered_checkpoint(pki: Pki, case: Case) -> None:
    size = str(len(case.leaf_hashes))
    bundle = mutated(case)
    bundle["checkpoint"] = bundle["checkpoint"].replace(f"\n{size}\n", f"\n{int(size) + 1}\n", 1)
    assert (None, "checkpoint_bad_signature") in codes(verify(pki, bundle))
    bundle = mutated(case)
    lines = bundle["checkpoint"].split("\n")
    lines[2] = "A" * 43 + "="
    bundle["checkpoint"] = "\n".join(lines)
    found = codes(verify(pki, bundle))
    assert {(None, "checkpoint_bad_signature"), (1, "not_in_log"), (4, "not_in_log")} <= found


def test_unsigned_checkpoint(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    text, _, _ = bundle["checkpoint"].partition("\n\n")
    bundle["checkpoint"] = text + "\n\n\u2014 someone.example/key AAAAAAA=\n"
    assert codes(verify(pki, bundle)) == {(None, "checkpoint_unsigned")}


def test_checkpoint_signed_by_a_key_without_the_log_purpose(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    note, head = log_statements(pki, case.leaf_hashes, case.records, case.log_indexes, pki.seal.signer)
    bundle["checkpoint"] = note
    bundle["case_head"] = {**head.head.as_dict(), "signature": head.signature}
    bundle["log_signer"] = {"certificate": certificate_pem(pki.seal.cert), "chain": []}
    assert codes(verify(pki, bundle)) == {(None, "checkpoint_cert_constraints_violated")}


def test_record_newer_than_its_checkpoint(pki: Pki) -> None:
    report = verify(pki, signed_case(pki, founding_steps(pki), checkpoint_time=START + timedelta(days=3)).bundle)
    assert codes(report) == {(4, "record_after_checkpoint")}


def test_different_root(pki: Pki, case: Case) -> None:
    other = create_root_ca("HQ Root CA", generate_ca_key())
    report = verify_bundle(case.bundle, certificate_pem(other))
    assert not report.ok and report.head is None
    found = {code for _, code in codes(report)}
    assert found == {"cert_untrusted", "checkpoint_cert_untrusted"}


def test_missing_crl(pki: Pki, case: Case) -> None:
    bundle = mutated(case)
    bundle["crls"] = [pem for pem in bundle["crls"] if pem != crl_pem(pki.crls()[2])][:2]
    found = {code for _, code in codes(verify(pki, bundle))}
    assert "revocation_unknown" in found


@pytest.mark.parametrize(
    "breaking",
    [
        lambda b: b.pop("checkpoint"),
        lambda b: b.update(extra=1),
        lambda b: b.update(format="other"),
        lambda b: b.update(records=[]),
        lambda b: b["records"][0].update(seq="1"),
        lambda b: b["records"][0].update(log_index=-1),
        lambda b: b["records"][0].update(inclusion_proof=["AB" * 32]),
        lambda b: b["signers"][0].update(certificate="garbage"),
        lambda b: b["crls"].append("garbage"),
        lambda b: b.update(checkpoint=b["checkpoint"].split("\n\n")[0] + "\n"),
        lambda b: b.update(checkpoint=b["checkpoint"].replace("\n", "\nxyz\n", 1).replace("\n\n", "\n")),
        lambda b: b.pop("case_head"),
        lambda b: b["case_head"].update(seq="4"),
        lambda b: b["case_head"].pop("signature"),
        lambda b: b["signers"].append(dict(b["log_signer"])),  # a signer without a user id
    ],
)
def test_malformed_bundles(pki: Pki, case: Case, breaking: Any) -> None:
    bundle = mutated(case)
    breaking(bundle)
    report = verify(pki, bundle)
    assert not report.ok and {code for _, code in codes(report)} == {"bundle_malformed"}


def test_one_key_certified_for_two_users(pki: Pki, case: Case) -> None:
    twin = issue_end_entity(pki.county, pki.county_key, Subject("Officer Twelve", None, 12),
                            pki.applicant.key.public_key(), Purpose.PERSON, not_before=START)
    bundle = mutated(case)
    bundle["signers"].append({"certificate": certificate_pem(twin), "chain": bundle["signers"][0]["chain"]})
    report = verify(pki, bundle)
    assert [(problem.code, problem.detail) for problem in report.problems] == [
        ("bundle_malformed", f"key {pki.applicant.signer.key_id} is certified for two different users")]


def test_strict_loading() -> None:
    for data in (b'{"a":1,"a":2}', b'{"a":1.5}', b"[]", b"\xff", b'{"a":NaN}'):
        with pytest.raises(BundleError):
            load_bundle(data)


def test_build_refuses_inconsistent_data(pki: Pki, case: Case) -> None:
    records = [BundleRecord(record, index) for record, index in zip(case.records, case.log_indexes)]
    arguments = ([pki.applicant.certified], pki.crls(), case.checkpoint, pki.log.certified)
    proofs = inclusion_proofs(case.log_indexes, case.leaf_hashes)
    with pytest.raises(BundleError):  # wrong index
        build_bundle(CASE_ID, [*records[:3], BundleRecord(case.records[3], case.log_indexes[3] + 1)],
                     *arguments, proofs, case.head)
    with pytest.raises(BundleError):  # a proof missing
        build_bundle(CASE_ID, records, *arguments, proofs[:-1], case.head)
    with pytest.raises(BundleError):  # a proof one node short
        build_bundle(CASE_ID, records, *arguments, [*proofs[:-1], proofs[-1][:-1]], case.head)
    with pytest.raises(BundleError):  # a proof of another tree
        build_bundle(CASE_ID, records, *arguments, [*proofs[:-1], [bytes(32), *proofs[-1][1:]]], case.head)
    with pytest.raises(BundleError):  # the head is not the last record given
        build_bundle(CASE_ID, records[:3], *arguments, proofs[:3], case.head)
    with pytest.raises(BundleError):
        build_bundle(CASE_ID, [], *arguments, [], case.head)
