"""Timings for the signing package: `.venv/bin/python bench/signing.py`."""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signing import (  # noqa: E402
    DOMAIN,
    InMemorySigner,
    StoredRecord,
    canonical_bytes,
    decrypt_private_key,
    digest,
    encrypt_private_key,
    format_time,
    generate_key,
    qr_data_uri,
    render_pdf,
    sign_record,
    verify_chain,
    verify_signature,
)

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


if __name__ == "__main__":
    main()
