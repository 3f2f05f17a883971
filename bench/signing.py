"""Timings for the signing package: `.venv/bin/python bench/signing.py`."""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signing import (  # noqa: E402
    DOMAIN,
    RECORD_PURPOSES,
    BundleRecord,
    CaseHead,
    CertifiedKey,
    InMemorySigner,
    Purpose,
    StoredRecord,
    Subject,
    build_bundle,
    canonical_bytes,
    certificate_pem,
    consistency_proof,
    create_root_ca,
    decrypt_private_key,
    digest,
    encrypt_private_key,
    format_time,
    generate_ca_key,
    generate_key,
    inclusion_proof,
    issue_ca,
    issue_crl,
    issue_end_entity,
    leaf_hash,
    qr_data_uri,
    record_leaf_hash,
    render_pdf,
    inclusion_proofs,
    sign_case_head,
    sign_checkpoint_note,
    sign_pdf,
    sign_record,
    validate_pdf,
    verify_bundle,
    verify_chain,
    verify_chain_at,
    verify_consistency,
    verify_inclusion,
    verify_signature,
)
from signing.merkle import root as merkle_root  # noqa: E402
from signing.timestamps import TimestampAuthority  # noqa: E402

FONTS = ROOT / "node_modules" / "vazirmatn" / "fonts" / "ttf"


def rate(label: str, func, seconds: float = 2.0) -> None:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        func()
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{label:<42} {count / elapsed:>10,.0f}/s  ({elapsed / count * 1e6:,.0f} µs each)")


def timed(label: str, func, runs: int) -> object:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    print(f"{label:<42} median {statistics.median(times) * 1000:,.1f} ms "
          f"(min {min(times) * 1000:,.1f}, max {max(times) * 1000:,.1f}, n={runs})")
    return result


def bench_merkle() -> None:
    print("-- Merkle log")
    rate("leaf_hash (append one record's leaf)", lambda: leaf_hash(b"x" * 32))
    for size in (10_000, 100_000, 1_000_000):
        leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(size)]
        timed(f"root over {size:,} leaves", lambda leaves=leaves: merkle_root(leaves), 3 if size < 10**6 else 1)
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(100_000)]
    top = merkle_root(leaves)
    proof = timed("inclusion_proof, 100,000 leaves", lambda: inclusion_proof(77_777, leaves), 3)
    rate("verify_inclusion, 100,000 leaves", lambda: verify_inclusion(leaves[77_777], 77_777, len(leaves), proof, top))
    old_root = merkle_root(leaves[:60_001])
    proof = timed("consistency_proof 60,001 -> 100,000", lambda: consistency_proof(60_001, leaves), 3)
    rate("verify_consistency 60,001 -> 100,000",
         lambda: verify_consistency(60_001, len(leaves), old_root, top, proof))


def bench_pki_pades_bundle() -> None:
    import logging
    from datetime import datetime, timedelta, timezone

    print("-- PKI, PAdES, evidence bundle")
    logging.getLogger("pyhanko").setLevel(logging.ERROR)  # it warns that fetching is off, on purpose
    start = (datetime.now(timezone.utc) - timedelta(days=30)).replace(microsecond=0)
    root_key, province_key, county_key = generate_ca_key(), generate_ca_key(), generate_key()
    root = create_root_ca("HQ Root CA", root_key, not_before=start)
    province = issue_ca(root, root_key, "Province CA", province_key.public_key(), 1, not_before=start)
    county = issue_ca(province, province_key, "County CA", county_key.public_key(), 0, not_before=start)
    person_key, seal_key, log_key = generate_key(), generate_key(), generate_key()
    person = issue_end_entity(county, county_key, Subject("Officer", "county", 12), person_key.public_key(),
                              Purpose.PERSON, not_before=start)
    seal = issue_end_entity(province, province_key, Subject("Seal", "province"), seal_key.public_key(),
                            Purpose.SEAL, not_before=start)
    log = issue_end_entity(root, root_key, Subject("Log", "hq"), log_key.public_key(), Purpose.LOG,
                           not_before=start)
    now = datetime.now(timezone.utc)
    crls = [issue_crl(cert, key, [], now - timedelta(minutes=1), now + timedelta(days=7))
            for cert, key in ((root, root_key), (province, province_key), (county, county_key))]
    rate("verify_chain_at, person <- county <- province <- root",
         lambda: verify_chain_at(person, [county, province], root, crls, now, purposes=RECORD_PURPOSES))

    signer = InMemorySigner(person_key)
    stored, leaves, indexes, prev = [], [leaf_hash(b"other")], [], None
    for seq in range(1, 7):
        body = {
            "v": 1, "case_id": "case-0001", "seq": seq, "process_key": "center_founding",
            "spec_version": "sha256:" + "ab" * 32, "task_id": None, "task_name": None, "action": "approve",
            "actor": {"user_id": 12, "username": "officer12", "role": "county_officer", "office": "county"},
            "key_id": signer.key_id, "form_key": None, "form_digest": None, "attachments": [],
            "rule_results": None, "details": {}, "time": format_time(start + timedelta(days=seq)),
            "prev_hash": prev,
        }
        record = sign_record(body, signer)
        stored.append(StoredRecord(seq, record.canonical, record.hash, record.signature, record.key_id, None,
                                   "approve", 12, "case-0001"))
        indexes.append(len(leaves))
        leaves.append(record_leaf_hash(record.hash))
        prev = record.hash
    leaves.extend(leaf_hash(i.to_bytes(8, "big")) for i in range(100_000 - len(leaves)))
    tree_root = merkle_root(leaves)
    log_signer = InMemorySigner(log_key)
    checkpoint = timed("sign_checkpoint_note (C2SP signed note, ECDSA)",
                       lambda: sign_checkpoint_note("hq-log", len(leaves), tree_root, log_signer), 100)
    head = sign_case_head(CaseHead("case-0001", 6, stored[-1].hash, indexes[-1], len(leaves), tree_root.hex(),
                                   format_time(now)), log_signer)
    proofs = inclusion_proofs(indexes, leaves)
    bundle = timed("build_bundle, 6 records, log of 100,000 leaves", lambda: build_bundle(
        "case-0001", [BundleRecord(r, i) for r, i in zip(stored, indexes)], [CertifiedKey(person, (county, province))],
        crls, checkpoint, CertifiedKey(log, ()), proofs, head), 3)
    root_pem = certificate_pem(root)
    report = verify_bundle(bundle, root_pem)
    assert report.ok, report.problems
    timed("verify_bundle, 6 records", lambda: verify_bundle(bundle, root_pem), 20)

    pdf = render_pdf("<p>certificate</p>", base_url=ROOT.as_uri() + "/", allowed_roots=[str(ROOT)],
                     attachments=[("evidence.json", canonical_bytes(bundle))])
    tsa_key = generate_key()
    tsa_cert = issue_end_entity(root, root_key, Subject("TSA", "hq"), tsa_key.public_key(), Purpose.TSA,
                                not_before=start)
    tsa = TimestampAuthority(InMemorySigner(tsa_key), tsa_cert)
    sealed = timed("sign_pdf (PAdES B-LTA, chain + CRLs, time-stamps, self-check)", lambda: sign_pdf(
        pdf, signer=InMemorySigner(seal_key), cert=seal, chain=[province], root=root, crls=crls,
        timestamper=tsa), 10)
    assert validate_pdf(sealed, root=root).ok
    timed("validate_pdf (offline, hard-fail CRLs)", lambda: validate_pdf(sealed, root=root), 10)
    print(f"sealed PDF size: {len(sealed):,} bytes")


def main() -> None:
    from datetime import datetime, timezone

    signer = InMemorySigner(generate_key())
    form = {"center_name": "کانون فرهنگی هنری مسجد امام\u200cرضا", "founders": 3}
    body = {
        "v": 1, "case_id": "case-0001", "seq": 1, "process_key": "center_founding",
        "spec_version": "sha256:" + "ab" * 32, "task_id": None, "task_name": None,
        "action": "submit",
        "actor": {"user_id": 7, "username": "founder7", "role": "applicant", "office": None},
        "key_id": signer.key_id, "form_key": "founding_application", "form_digest": digest(form),
        "attachments": ["0f" * 32], "rule_results": {"manager_age_ok": True}, "details": {},
        "time": format_time(datetime.now(timezone.utc)), "prev_hash": None,
    }
    message = DOMAIN + canonical_bytes(body)
    signature = signer.sign(message)
    print(f"record message: {len(message)} bytes")
    rate("ECDSA P-256 sign (Signer.sign)", lambda: signer.sign(message))
    rate("ECDSA P-256 verify (verify_signature)", lambda: verify_signature(signer.public_key_pem, message, signature))
    rate("sign_record (validate+sign+self-check)", lambda: sign_record(body, signer))

    records, prev = [], None
    for seq in range(1, 101):
        record = sign_record({**body, "seq": seq, "prev_hash": prev}, signer)
        records.append(StoredRecord(seq, record.canonical, record.hash, record.signature, record.key_id,
                                    canonical_bytes(form).decode(), "submit", 7, "case-0001"))
        prev = record.hash
    keys = {signer.key_id: signer.public_key_pem}
    report = verify_chain("case-0001", records, keys)
    assert report.ok
    rate("verify_chain, 100 records (chains/s)", lambda: verify_chain("case-0001", records, keys))

    key = generate_key()
    pem = timed("encrypt_private_key (scrypt 2^14,8,1)", lambda: encrypt_private_key(key, "123456"), 20)
    timed("decrypt_private_key (scrypt 2^14,8,1)", lambda: decrypt_private_key(pem, "123456"), 20)

    html = (
        '<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8"><style>'
        f'@font-face {{ font-family: V; src: url("{(FONTS / "Vazirmatn-Regular.ttf").as_uri()}"); }}'
        f'@font-face {{ font-family: V; font-weight: bold; src: url("{(FONTS / "Vazirmatn-Bold.ttf").as_uri()}"); }}'
        "@page { size: A4; margin: 2cm } body { font-family: V } td { border: 1px solid #000 }"
        "</style></head><body><h1>مجوز کانون فرهنگی هنری مسجد</h1><table>"
        + "".join(f"<tr><td>{i}</td><td>تأیید کارشناس شهرستان</td><td>{record.hash[:16]}</td></tr>"
                  for i, record in enumerate(records[:12], start=1))
        + f'</table><img style="width:3cm" src="{qr_data_uri("case-0001." + "ab" * 10)}"></body></html>'
    )
    evidence = canonical_bytes({"records": [r.canonical for r in records[:4]]})
    pdf = timed(
        "render_pdf, one A4 page + QR + attachment",
        lambda: render_pdf(html, base_url=FONTS.as_uri() + "/", allowed_roots=[str(FONTS)],
                           attachments=[("evidence.json", evidence)]),
        10,
    )
    print(f"PDF size: {len(pdf):,} bytes")
    bench_merkle()
    bench_pki_pades_bundle()


if __name__ == "__main__":
    main()
