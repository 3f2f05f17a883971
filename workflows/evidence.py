"""A case's evidence: its bundle (records, certificates, CRLs, log proofs, a checkpoint note with
any witness cosignatures, the log key's statement of the case head) and the sealed PDF
certificate that carries it."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from signing import StoredRecord, canonical_bytes, format_time, render_pdf
from signing import pki as x
from signing.bundle import BundleRecord, CaseHead, build_bundle, sign_case_head
from signing.pades import SealOptions, sign_pdf
from signing.verify_cli import EVIDENCE_NAME
from signing.witness import WitnessEndpoint
from workflows import log, pki
from workflows.verification import verify_case
from workflows.errors import Conflict, NotCheckpointed
from workflows.models import Case, Certificate, Office, Record, utcnow

__all__ = ["EVIDENCE_NAME", "bundle", "seal_office", "sealed_pdf"]


def bundle(session: Session, case: Case, passphrase: str, now: datetime | None = None,
           witnesses: Sequence[WitnessEndpoint] = (), *, sign_checkpoint: bool = True) -> dict:
    """The case's evidence bundle, verifiable offline with the HQ root alone.

    The log key states the case's head (its last record, in the checkpoint the bundle carries)
    only after the case's chain verifies from the stored records. When the newest checkpoint does
    not cover the case, a new one is signed (and `witnesses` are asked to cosign it), or, without
    ``sign_checkpoint`` (a read that writes nothing), NotCheckpointed is raised."""
    now = now or utcnow()
    rows = list(session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.seq)))
    if not rows:
        raise Conflict("the case has no signed records yet")
    report = verify_case(session, case)
    if not report.ok or report.count != len(rows) or report.head != rows[-1].hash:
        raise Conflict("the case's signed records do not verify: its head cannot be stated")
    head = log.latest_checkpoint(session)
    if head is None or head.tree_size <= max(r.log_index for r in rows) or head.note is None:
        if not sign_checkpoint:
            raise NotCheckpointed("the case's last record is in no signed checkpoint yet")
        head = log.checkpoint(session, passphrase, now, witnesses)
    proofs = log.inclusion_proofs(session, [r.log_index for r in rows], head.tree_size)
    certificates = {c.key_id: c for c in session.scalars(select(Certificate).where(
        Certificate.key_id.in_({r.key_id for r in rows})))}
    hq = session.scalars(select(Office).where(Office.kind == "hq")).one()
    log_key_signer, log_key = pki.service_signer(session, "log", hq, passphrase)
    last = rows[-1]
    case_head = sign_case_head(CaseHead(case.public_id, last.seq, last.hash, last.log_index, head.tree_size, head.root,
                                        format_time(now)), log_key_signer)
    signers = [pki.certified_key(session, certificates[key]) for key in sorted(certificates)]
    log_signer = pki.certified_key(session, log_key.certificate)
    material = pki.trust_material(session)
    # the CRLs of the CAs that issued a certificate on the signers' paths: the others prove nothing here
    issuers = {material.root.subject} | {ca.subject for key in (*signers, log_signer) for ca in key.chain}
    return build_bundle(
        case.public_id,
        [BundleRecord(StoredRecord(seq=r.seq, canonical=r.canonical, hash=r.hash, signature=r.signature,
                                   key_id=r.key_id, form_data=r.form_data, action=r.action,
                                   actor_user_id=r.actor_user_id, case_id=case.public_id), r.log_index) for r in rows],
        signers, [crl for crl in material.crls if crl.issuer in issuers], log.cosigned_note(session, head), log_signer,
        proofs, case_head, head.timestamp)


def seal_office(session: Session, case: Case) -> Office:
    """The office whose seal certifies this case: the province of its county (HQ if none)."""
    if case.county_office is not None and case.county_office.parent is not None:
        return case.county_office.parent
    return session.scalars(select(Office).where(Office.kind == "hq")).one()


def sealed_pdf(session: Session, case: Case, html: str, *, base_url: str, allowed_roots: list[str],
               passphrase: str, now: datetime | None = None, witnesses: Sequence[WitnessEndpoint] = ()) -> bytes:
    """Render the certificate with its evidence bundle attached, then seal it (PAdES B-LTA, time-stamped
    by HQ's TSA in process)."""
    evidence = canonical_bytes(bundle(session, case, passphrase, now, witnesses))
    pdf = render_pdf(html, base_url=base_url, allowed_roots=allowed_roots, attachments=[(EVIDENCE_NAME, evidence)])
    office = seal_office(session, case)
    signer, key = pki.service_signer(session, "seal", office, passphrase)
    material = pki.trust_material(session)
    cert = x.load_certificate(key.certificate.pem)
    chain = list(material.chain(session, key.certificate.issuer_ca_id))
    return sign_pdf(pdf, signer=signer, cert=cert, chain=chain, root=material.root, crls=list(material.crls),
                    timestamper=pki.timestamp_authority(session, passphrase),
                    options=SealOptions(reason="گواهی پرونده", location=office.name, signer_name=key.certificate.subject))
