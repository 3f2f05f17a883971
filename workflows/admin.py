"""Administration: offices, people, roles, deactivation; every change a signed record of the admin log.

The admin log is a chain of its own (``ADMIN_CHAIN``) in the same record format as a case's
chain, written by the same writer (``workflows.chain``: the administrator's active, certified key
under their PIN; each record a leaf of the global log), and ``signing.verify_chain`` checks it. A
password never enters a record; the rest of what was submitted does, by its digest, with the full
data kept next to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

import forms
from signing import ChainProblem, ChainReport, StoredRecord, canonical_bytes, merkle, verify_chain
from workflows import access, chain
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflows.keys import public_keys, unlock_signer
from workflows.models import OFFICE_KINDS, AdminRecord, CaseTask, LogLeaf, Office, User, WebSession, utcnow
from workflows.offices import CODE as OFFICE_CODE
from workflows.people import create_user

__all__ = ["ADMIN_CHAIN", "AdminRecord", "add_office", "add_user", "assign_role", "deactivate_user",
           "admin_records", "verify_admin_log", "ASSIGNABLE_ROLES", "AdminChange"]

#: the chain id the admin log's records carry where a case's carry the case's public id
ADMIN_CHAIN = "admin-log"
#: the "process" of the admin log's records, and the version of its record contents
ADMIN_PROCESS, ADMIN_VERSION = "admin", "1"
#: roles an administrator may give (the system account is made by the server only)
ASSIGNABLE_ROLES = tuple(role for role in access.ROLE_DEFS if role != "system")
USERNAME = re.compile(r"[a-z0-9_.]{3,64}")
AGENCY_CODE = re.compile(r"[a-z_]{2,32}")
MIN_PASSWORD = 8


@dataclass(frozen=True)
class AdminChange:
    record: AdminRecord
    #: the office or user the change made or changed
    subject: Office | User


def _require_admin(admin: User) -> None:
    if not access.has_capability(admin, "administer"):
        raise Forbidden("administrators only")


def append_record(session: Session, admin: User, pin: str, now: datetime, action: str, data: dict,
            details: dict) -> AdminRecord:
    """Sign the next record of the admin log with the administrator's key (``chain.append``: the key
    checked, the record a log leaf)."""
    signer = unlock_signer(session, admin, pin)
    last = session.scalars(select(AdminRecord).order_by(AdminRecord.seq.desc()).limit(1)).first()
    return chain.append(
        session, last=last, chain_id=ADMIN_CHAIN, process_key=ADMIN_PROCESS, spec_version=ADMIN_VERSION,
        action=action, actor=admin, signer=signer, now=now, form_key=f"admin_{action}", form_data=data,
        details=details,
        row=lambda signed: AdminRecord(
            seq=signed.body["seq"], action=action, actor_user_id=admin.id, created_at=now,
            canonical=signed.canonical, hash=signed.hash, signature=signed.signature, key_id=signed.key_id,
            form_data=canonical_bytes(data).decode("utf-8")))


def _text(data: dict, name: str, errors: dict, *, required: bool = True, max_length: int = 120) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors[name] = [forms.t("errors.required")]
        return ""
    if not isinstance(value, str):
        errors[name] = [forms.t("errors.not_text")]
        return ""
    value = forms.normalize_text(value)
    if len(value) > max_length:
        errors[name] = [forms.t("errors.text_too_long", max=forms.to_persian_digits(str(max_length)))]
    return value


def _office(session: Session, code: str, errors: dict, field: str = "office") -> Office | None:
    office = session.scalars(select(Office).where(Office.code == code)).first() if code else None
    if code and office is None:
        errors[field] = [forms.t("web.admin.office_unknown")]
    return office


def _check_role_office(role: str, office: Office | None, errors: dict) -> None:
    if role not in ASSIGNABLE_ROLES:
        errors["role"] = [forms.t("errors.choice_invalid")]
        return
    kind = access.ROLE_DEFS[role].office_kind
    if kind is None and office is not None:
        errors["office"] = [forms.t("web.admin.office_not_allowed")]
    elif kind is not None and (office is None or office.kind != kind):
        errors["office"] = [forms.t("web.admin.office_kind_mismatch", kind=forms.t(f"web.office_kind.{kind}"))]


def add_office(session: Session, admin: User, *, data: dict, pin: str, now: datetime | None = None) -> AdminChange:
    """Add a province (under headquarters) or a county (under a province)."""
    _require_admin(admin)
    now = now or utcnow()
    errors: dict[str, list[str]] = {}
    code = _text(data, "code", errors, max_length=32).lower()
    name = _text(data, "name", errors)
    kind = _text(data, "kind", errors, max_length=16)
    parent = _office(session, _text(data, "parent", errors, max_length=32), errors, "parent")
    number = data.get("number")
    if code and not OFFICE_CODE.fullmatch(code):
        errors["code"] = [forms.t("errors.code_invalid")]
    elif code and session.scalar(select(Office.id).where(Office.code == code)) is not None:
        errors["code"] = [forms.t("web.admin.code_taken")]
    if kind and kind not in OFFICE_KINDS[1:]:
        errors["kind"] = [forms.t("errors.choice_invalid")]
    if parent is not None and kind and parent.kind != {"province": "hq", "county": "province"}.get(kind):
        errors["parent"] = [forms.t("web.admin.parent_invalid")]
    if kind == "province":
        if isinstance(number, str):
            number = int(forms.normalize_digits(number)) if forms.normalize_digits(number).isdigit() else None
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 99:
            errors["number"] = [forms.t("errors.integer_invalid")]
        elif session.scalar(select(Office.id).where(Office.kind == "province", Office.number == number)) is not None:
            errors["number"] = [forms.t("web.admin.number_taken")]
    else:
        number = None
    if errors:
        raise InvalidInput(errors)
    change = {"code": code, "name": name, "kind": kind, "parent": parent.code, "number": number}
    record = append_record(session, admin, pin, now, "add_office", change, {"office": code})
    office = Office(code=code, name=name, kind=kind, parent=parent, number=number)
    session.add(office)
    session.flush()
    return AdminChange(record, office)


def add_user(session: Session, admin: User, *, data: dict, pin: str, now: datetime | None = None) -> AdminChange:
    """Add a person with a role and an office; they choose their signing PIN on first sign-in."""
    _require_admin(admin)
    now = now or utcnow()
    errors: dict[str, list[str]] = {}
    username = _text(data, "username", errors, max_length=64).lower()
    full_name = _text(data, "full_name", errors)
    role = _text(data, "role", errors, max_length=32)
    office = _office(session, _text(data, "office", errors, required=False, max_length=32), errors)
    password = data.get("password")
    mobile, email = _contact(data, errors)
    agency = _text(data, "agency", errors, required=role == "agency", max_length=32) or None
    if username and not USERNAME.fullmatch(username):
        errors["username"] = [forms.t("web.admin.username_invalid")]
    elif username and session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = [forms.t("web.admin.username_taken")]
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        errors["password"] = [forms.t("web.admin.password_short", min=forms.to_persian_digits(str(MIN_PASSWORD)))]
    if role:
        _check_role_office(role, office, errors)
    if agency is not None and (role != "agency" or not AGENCY_CODE.fullmatch(agency)):
        errors["agency"] = [forms.t("errors.code_invalid")]
    if errors:
        raise InvalidInput(errors)
    change = {"username": username, "full_name": full_name, "role": role, "office": office.code if office else None,
              "mobile": mobile, "email": email, "agency": agency}
    record = append_record(session, admin, pin, now, "add_user", change, {"username": username})
    user = create_user(session, username=username, password=password, full_name=full_name, role=role,
                       office=office, pin=None, agency=agency, mobile=mobile, email=email)
    return AdminChange(record, user)


def _contact(data: dict, errors: dict) -> tuple[str | None, str | None]:
    mobile = _text(data, "mobile", errors, required=False, max_length=20) or None
    email = _text(data, "email", errors, required=False, max_length=120) or None
    if mobile is not None:
        try:
            mobile = forms.normalize_mobile(mobile)
        except forms.InvalidValueError as error:
            errors["mobile"] = [str(error)]
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        errors["email"] = [forms.t("errors.email_invalid")]
    return mobile, email


def _person(session: Session, user_id: Any) -> User:
    user = session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or user.role == "system":
        raise NotFound("user")
    return user


def assign_role(session: Session, admin: User, *, user_id: int, data: dict, pin: str,
                now: datetime | None = None) -> AdminChange:
    """Give a person another role and office (the claims they held go back to their office)."""
    _require_admin(admin)
    now = now or utcnow()
    user = _person(session, user_id)
    errors: dict[str, list[str]] = {}
    role = _text(data, "role", errors, max_length=32)
    office = _office(session, _text(data, "office", errors, required=False, max_length=32), errors)
    if role:
        _check_role_office(role, office, errors)
    if role == "agency" and not user.agency:
        errors["role"] = [forms.t("web.admin.agency_role")]
    if user.id == admin.id and role != admin.role:
        errors["role"] = [forms.t("web.admin.not_yourself")]
    if errors:
        raise InvalidInput(errors)
    change = {"username": user.username, "role": role, "office": office.code if office else None,
              "previous_role": user.role, "previous_office": user.office.code if user.office else None}
    record = append_record(session, admin, pin, now, "assign_role", change, {"username": user.username})
    _release_claims(session, user)
    user.role, user.office = role, office
    session.flush()
    return AdminChange(record, user)


def deactivate_user(session: Session, admin: User, *, user_id: int, data: dict, pin: str,
                    now: datetime | None = None) -> AdminChange:
    """Stop a person from signing in, signing or acting; their claimed tasks go back to their office."""
    _require_admin(admin)
    now = now or utcnow()
    user = _person(session, user_id)
    errors: dict[str, list[str]] = {}
    reason = _text(data, "reason", errors, max_length=400)
    if reason and len(reason) < 5:
        errors["reason"] = [forms.t("errors.text_too_short", min="۵")]
    if user.id == admin.id:
        errors["user"] = [forms.t("web.admin.not_yourself")]
    if errors:
        raise InvalidInput(errors)
    if not user.active:
        raise Conflict("already inactive")
    record = append_record(session, admin, pin, now, "deactivate_user", {"username": user.username, "reason": reason},
                     {"username": user.username})
    _release_claims(session, user)
    user.active = False
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))  # signed out everywhere
    session.flush()
    return AdminChange(record, user)


def _release_claims(session: Session, user: User) -> None:
    for task in session.scalars(select(CaseTask).where(CaseTask.claimed_by_id == user.id)):
        task.claimed_by_id, task.claimed_at = None, None


def admin_records(session: Session, *, page: int, per_page: int) -> tuple[list[AdminRecord], int]:
    """One page of the admin log, newest first, and its size."""
    total = session.scalar(select(func.count()).select_from(AdminRecord)) or 0
    rows = list(session.scalars(select(AdminRecord).order_by(AdminRecord.seq.desc())
                                .limit(per_page).offset((page - 1) * per_page)))
    return rows, total


def verify_admin_log(session: Session) -> ChainReport:
    """Recompute the admin log's chain from its stored records, and check that each record is the
    global log's leaf at its index."""
    rows = list(session.scalars(select(AdminRecord).order_by(AdminRecord.seq)))
    stored = [StoredRecord(seq=r.seq, canonical=r.canonical, hash=r.hash, signature=r.signature, key_id=r.key_id,
                           form_data=r.form_data, action=r.action, actor_user_id=r.actor_user_id,
                           case_id=ADMIN_CHAIN) for r in rows]
    keys = public_keys(session, {r.key_id for r in rows})
    report = verify_chain(ADMIN_CHAIN, stored, {k: pem for k, (pem, _) in keys.items()},
                          key_owners={k: owner for k, (_, owner) in keys.items()})
    leaves = {leaf.index: leaf for leaf in session.scalars(select(LogLeaf).where(
        LogLeaf.index.in_([r.log_index for r in rows if r.log_index is not None])))} if rows else {}
    unlogged = [ChainProblem(r.seq, "not_in_log", "the record is not the log's leaf at its index") for r in rows
                if r.log_index not in leaves or leaves[r.log_index].admin_record_id != r.id
                or bytes(leaves[r.log_index].leaf_hash) != merkle.record_leaf_hash(r.hash)]
    if not unlogged:
        return report
    problems = sorted([*report.problems, *unlogged], key=lambda p: p.seq)
    valid = [r for r in rows if r.seq < problems[0].seq]
    return ChainReport(ok=False, head=valid[-1].hash if valid else None, count=len(valid), problems=tuple(problems))
