"""Database models of the licensing domain.

Plain SQLAlchemy 2 declarative models: no Flask here. The web layer binds them to a
session; operations in this package only ``flush()``, the caller commits.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    text,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

__all__ = [
    "Base", "Office", "User", "SigningKey", "ApiToken", "ProcessDefinition", "Case",
    "CaseTask", "Draft", "Record", "Document", "CaseDocument", "Center", "License",
    "ManagerTerm", "Inquiry", "Certificate", "CertificateAuthority", "ServiceKey", "Crl", "LogLeaf", "LogNode", "LogState", "SigningSession",
    "LogCheckpoint", "CaseCount", "CaseDayCount", "RecordTiming", "WebSession", "TrainingProgress", "UtcDateTime",
    "utcnow", "as_utc", "tehran_today",
]

OFFICE_KINDS = ("hq", "province", "county")
#: every role (workflows/data/roles.json defines what each may do; a test keeps the two in step)
ROLES = ("applicant", "county_officer", "county_head", "province_officer", "province_head", "hq_auditor", "admin",
         "agency", "system")
INQUIRY_STATUSES = ("pending", "answered", "withdrawn")
#: a license in force, suspended for a period (or until lifted), revoked by its province, or closed at the
#: center's own request
LICENSE_STATUSES = ("active", "suspended", "revoked", "closed")
#: how a manager's term ends: a successor replaced the manager, the manager retired or resigned, or the
#: center's license was revoked or closed (a renewal moves the term's planned end: the term goes on)
TERM_END_REASONS = ("replaced", "retired", "resigned", "revoked", "closed")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def insert_or_skip(session, table, index_elements: list[str], update_set=None):
    """An INSERT of the session's database (SQLite or PostgreSQL) that, on a row with the same values of
    ``index_elements``, does nothing, or (``update_set(table, excluded)``: the values) updates it."""
    from sqlalchemy.dialects import postgresql, sqlite
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table)
    if update_set is None:
        return statement.on_conflict_do_nothing(index_elements=index_elements)
    return statement.on_conflict_do_update(index_elements=index_elements,
                                           set_=update_set(table, statement.excluded))


def as_utc(moment: datetime) -> datetime:
    """A time made timezone-aware: one without an offset is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class UtcDateTime(TypeDecorator):
    """A moment, stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL.

    SQLite keeps no offset: without this, it hands times back naive, and it compares a parameter
    by its wall-clock text, so a Tehran midnight would be read 3.5 hours off. Every moment goes in
    converted to UTC and comes out aware, whichever database stores it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        # anything else (a naive time, a text a restore or an edit writes) goes to the column as before
        return value.astimezone(timezone.utc) if isinstance(value, datetime) and value.tzinfo is not None else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value).astimezone(timezone.utc)

    def coerce_compared_value(self, op, value):
        """A moment compared with a column goes in as one (in UTC); a time span added to it as a span."""
        return self if isinstance(value, datetime) else self.impl_instance.coerce_compared_value(op, value)


def tehran_today(moment: datetime) -> date:
    """The calendar date in Iran at this instant (UTC+03:30, no DST since 2022)."""
    return (moment + timedelta(hours=3, minutes=30)).date()


#: constraint and index names, so that they are the same on SQLite and PostgreSQL and
#: migrations can refer to them; keep every name within PostgreSQL's 63 characters
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(column_0_label)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Office(Base):
    """A node of the office tree: headquarters → province → county."""

    __tablename__ = "offices"
    __table_args__ = (CheckConstraint(f"kind IN {OFFICE_KINDS}", name="office_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stable short code used in forms, URLs and records (e.g. "markazi.arak")
    code: Mapped[str] = mapped_column(String(32), unique=True)
    #: Persian name shown to users
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    #: two-digit number used in license numbers (provinces only)
    number: Mapped[int | None] = mapped_column(Integer)

    parent: Mapped[Office | None] = relationship(remote_side=[id])


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="user_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(32))
    #: the office the user works in; applicants and agencies have none
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    #: for agency accounts: the agency code inquiries are addressed to (e.g. "judiciary")
    agency: Mapped[str | None] = mapped_column(String(32), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: where text messages (SMS) and email notifications go; None: that channel is not used
    mobile: Mapped[str | None] = mapped_column(String(11))
    email: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    office: Mapped[Office | None] = relationship()

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class SigningKey(Base):
    """A person's signing key pair; the private half only encrypted under their PIN."""

    __tablename__ = "signing_keys"

    #: hex SHA-256 of the public key's SubjectPublicKeyInfo
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    #: PKCS#8 PEM encrypted under the owner's signing PIN
    encrypted_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: the X.509 certificate that binds this key to its owner (None until enrolled)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    #: consecutive wrong PINs; signing locks at the limit until an administrator resets it
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)

    certificate: Mapped[Certificate | None] = relationship()


class Certificate(Base):
    """An X.509 certificate the deployment issued: a CA's, a person's or a service's."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: serial number, lowercase hex
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    #: ca, person, agency, system, seal, log
    purpose: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    #: hex SHA-256 of the SubjectPublicKeyInfo
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    #: the CA that issued it (None for the root)
    #: (``use_alter``: CAs and certificates refer to each other; this side is filled last on restore)
    issuer_ca_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_authorities.id", use_alter=True))
    pem: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))


class CertificateAuthority(Base):
    """A CA of the hierarchy: HQ root → province → county, and HQ's issuing CA for services."""

    __tablename__ = "certificate_authorities"
    __table_args__ = (CheckConstraint("kind IN ('root', 'hq', 'province', 'county')", name="ca_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    #: encrypted PKCS#8 under the deployment's CA key passphrase
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)

    certificate: Mapped[Certificate] = relationship(foreign_keys=[certificate_id])
    office: Mapped[Office] = relationship()


class ServiceKey(Base):
    """A key the deployment itself signs with: an office's document seal, HQ's log key, HQ's TSA key."""

    __tablename__ = "service_keys"
    __table_args__ = (UniqueConstraint("purpose", "office_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: seal, log or tsa
    purpose: Mapped[str] = mapped_column(String(16))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)

    certificate: Mapped[Certificate] = relationship()


class Crl(Base):
    """A certificate revocation list a CA issued."""

    __tablename__ = "crls"

    id: Mapped[int] = mapped_column(primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"), index=True)
    this_update: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    pem: Mapped[str] = mapped_column(Text)


class SigningSession(Base):
    """A signing key its owner unlocked with the PIN for a while (one sign-in or one API client).

    The private key is kept wrapped under a random secret that only the owner's client holds (in
    its session cookie or its request): the server keeps neither the PIN nor the secret, so it
    still cannot sign for someone who is not asking it to, and a copy of the database opens nothing.
    """

    __tablename__ = "signing_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    #: AES-256-GCM nonce ‖ ciphertext of the PKCS#8 key (signing.wrap_private_key)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class LogLeaf(Base):
    """One leaf of the global append-only Merkle log: a signed record's hash, of a case's chain or
    of the admin log's."""

    __tablename__ = "log_leaves"
    __table_args__ = (CheckConstraint("(record_id IS NULL) <> (admin_record_id IS NULL)", name="leaf_one_record"),)

    #: 0-based position in the log; contiguous
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: RFC 6962 leaf hash, SHA-256(0x00 ‖ record hash)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    #: the case record it logs, or
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), unique=True)
    #: the admin log record it logs
    admin_record_id: Mapped[int | None] = mapped_column(ForeignKey("admin_records.id"), unique=True)


class LogNode(Base):
    """The hash of one complete subtree of the log above its leaves: the 2**level leaves from
    index * 2**level. Written once, when the subtree's last leaf is appended, so that roots and
    proofs read O(log² n) rows instead of every leaf."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: RFC 6962 node hash, SHA-256(0x01 ‖ left ‖ right)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogState(Base):
    """The log's size, one row locked by every append so the log never forks or skips."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    #: the hashes of the complete subtrees that make the whole log, largest first, concatenated
    #: (one per set bit of ``size``): the current root without reading the log
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class LogCheckpoint(Base):
    """A signed tree head: size and root of the log at a time, signed by HQ's log key."""

    __tablename__ = "log_checkpoints"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(40))
    log_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    #: the same head as a C2SP tlog-checkpoint signed note, signed by the same log key (None on
    #: checkpoints signed before notes: their JSON signature above stays verifiable)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: HQ's RFC 3161 time-stamp token (DER) over the note's text (the checkpoint's three lines): a
    #: time no one but the TSA states (None on checkpoints made before checkpoints were time-stamped)
    timestamp: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class LogCosignature(Base):
    """A witness's cosignature (c2sp.org/tlog-cosignature) on a checkpoint note."""

    __tablename__ = "log_cosignatures"

    tree_size: Mapped[int] = mapped_column(ForeignKey("log_checkpoints.tree_size", ondelete="CASCADE"),
                                           primary_key=True)
    #: the witness's key name
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: the signature line as the witness returned it ("— <name> <base64>")
    line: Mapped[str] = mapped_column(Text)
    #: the witness's time in the cosignature (POSIX seconds)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: after this the token opens nothing (None: until revoked, for integrations an administrator set up)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A signed-in browser session: its cookie (encrypted, held by the browser) names it by a random
    token of which only the SHA-256 is stored; signing out, expiry or deactivation deletes the row,
    and a cookie whose row is gone opens an empty session."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: the session ends then, however active (PERMANENT_SESSION_LIFETIME after sign-in)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class LoginAttempt(Base):
    """One sign-in attempt (page or API), kept for a day to rate-limit password guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),
                      Index("ix_login_attempts_address_at", "address", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the username as typed (normalized), whether or not such a user exists
    username: Mapped[str] = mapped_column(String(64))
    #: the client's IP address
    address: Mapped[str] = mapped_column(String(45))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ProcessDefinition(Base):
    """One deployed version of a process: its BPMN/DMN sources, keyed by content hash."""

    __tablename__ = "process_definitions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    #: JSON object {file name: file text}
    sources: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Case(Base):
    """One running (or finished) process instance."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: random identifier used in verification tokens (never the row id)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    process_key: Mapped[str] = mapped_column(String(64))
    spec_version: Mapped[str] = mapped_column(ForeignKey("process_definitions.version"))
    serializer_version: Mapped[str] = mapped_column(String(32))
    #: serialized SpiffWorkflow state, without the spec
    state: Mapped[str] = mapped_column(Text)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(32), index=True)
    #: the end event reached, once finished
    outcome: Mapped[str | None] = mapped_column(String(64))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: the county office in charge (from the mosque's county); None while a draft
    county_office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    #: short title for lists (the mosque's name)
    title: Mapped[str | None] = mapped_column(String(200))
    #: the code (کد رهگیری, ten digits) with which the applicant follows the case without signing in
    tracking_code: Mapped[str | None] = mapped_column(String(10), unique=True)
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"), index=True)
    #: a retirement/resignation case this manager change provides the successor for
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    #: the earliest time a timer of this case is due (None when no timer waits)
    wake_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    #: the last record seq that notifications were made for (workflows.notifications)
    notified_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": lock_version}

    applicant: Mapped[User] = relationship()
    county_office: Mapped[Office | None] = relationship()
    center: Mapped[Center | None] = relationship(foreign_keys=[center_id])
    tasks: Mapped[list[CaseTask]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseTask.id")


class CaseTask(Base):
    """A user task a case waits on, derived from the state after every transition."""

    __tablename__ = "case_tasks"
    __table_args__ = (
        # an office's inbox (workflows.inbox): its lanes' unassigned tasks, soonest deadline first, so
        # that a page of the queue is read in index order and its counts from the index
        Index("ix_case_tasks_office_queue", "office_id", "lane", "assignee_id", "due_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: the engine's task id (UUID string)
    task_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str] = mapped_column(String(32))
    form_key: Mapped[str] = mapped_column(String(64))
    #: the office that may act (county/province lanes)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    #: the person who may act (applicant lane)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    #: the person of the office who took the task; only they may complete it until they release it
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    case: Mapped[Case] = relationship(back_populates="tasks")
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])


class Draft(Base):
    """Unsigned, unvalidated form input saved by its author to resume later."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("case_id", "form_key", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    form_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: JSON of the raw (normalized) input
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TrainingProgress(Base):
    """A training case's progress on one module of its package: working state its taker makes by taking
    the module's quiz (``workflows.training``); the completion record signs the results."""

    __tablename__ = "training_progress"
    __table_args__ = (UniqueConstraint("case_id", "module_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    module_key: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: the best attempt's right answers, of its questions
    correct: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: when an attempt first reached the pass mark (None: not passed yet)
    passed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SignedRecordColumns:
    """The columns every chain's records have (``chain.append`` writes them): a case's records and
    the admin log's."""

    action: Mapped[str] = mapped_column(String(32))
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: RFC 8785 canonical JSON of the record body
    canonical: Mapped[str] = mapped_column(Text)
    #: hex SHA-256 of the canonical bytes
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: base64 DER ECDSA signature over the domain-separated canonical bytes
    signature: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_keys.key_id"))
    #: the record's leaf index in the global Merkle log (one log for every chain)
    log_index: Mapped[int | None] = mapped_column(Integer, unique=True)

    @declared_attr
    def actor(cls) -> Mapped[User]:
        return relationship(User)


class Record(SignedRecordColumns, Base):
    """A signed transition. The canonical text is what was signed; other columns mirror it."""

    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("case_id", "seq"),
                      # monitoring and the HQ audit read decisions by action and time, step times by step and time
                      Index("ix_records_action_created_at", "action", "created_at"),
                      Index("ix_records_task_name_created_at", "task_name", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    task_name: Mapped[str | None] = mapped_column(String(64))
    #: canonical JSON of the submitted form data (its digest is in the body)
    form_data: Mapped[str | None] = mapped_column(Text)


class CaseNote(Base):
    """The words of an office's note or message on a case (``workflows.notes``); the record that
    signed it holds their digest."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    text: Mapped[str] = mapped_column(Text)


class AdminRecord(SignedRecordColumns, Base):
    """A signed change of the admin log (``workflows.admin``); its action is add_office, add_user,
    assign_role or deactivate_user."""

    __tablename__ = "admin_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    #: canonical JSON of the submitted change (no password)
    form_data: Mapped[str] = mapped_column(Text)


class Document(Base):
    """An uploaded file, stored on disk by its SHA-256."""

    __tablename__ = "documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CaseDocument(Base):
    """A document uploaded to a case; access to it follows access to the case."""

    __tablename__ = "case_documents"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("documents.sha256"))
    #: the name the uploader gave it (display only, never a path)
    original_name: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    document: Mapped[Document] = relationship()


class Center(Base):
    """A licensed mosque cultural-art center."""

    __tablename__ = "centers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mosque_name: Mapped[str] = mapped_column(String(200))
    county_office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    address: Mapped[str] = mapped_column(String(400))
    postal_code: Mapped[str] = mapped_column(String(10))
    #: the account that holds the center (its founder or prayer leader) and starts its procedures
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    county_office: Mapped[Office] = relationship()


class License(Base):
    __tablename__ = "licenses"
    __table_args__ = (CheckConstraint(f"status IN {LICENSE_STATUSES}", name="license_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    #: active, suspended (until ``suspended_until``, or until lifted), revoked or closed; set by the signed
    #: records of the license procedures (``workflows.outcomes``), read as proved by ``facts.license_on``
    status: Mapped[str] = mapped_column(String(16), default="active")
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: the day the status took effect, the last day of a suspension's period, why, and the case that set it
    status_since: Mapped[date | None] = mapped_column(Date)
    suspended_until: Mapped[date | None] = mapped_column(Date)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    center: Mapped[Center] = relationship()


class ManagerTerm(Base):
    """A person's term as a center's manager; at most one open term per center."""

    __tablename__ = "manager_terms"
    __table_args__ = (
        Index("ix_manager_terms_center_current", "center_id", unique=True,
              sqlite_where=text("end_date IS NULL"), postgresql_where=text("end_date IS NULL")),
        CheckConstraint(f"end_reason IS NULL OR end_reason IN {TERM_END_REASONS}", name="term_end_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"))
    national_id: Mapped[str] = mapped_column(String(10), index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date, index=True)
    #: when the appointment runs out (from bpmn/terms.json at the time of appointment)
    planned_end: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    #: one of TERM_END_REASONS
    end_reason: Mapped[str | None] = mapped_column(String(16))
    #: an interim manager named by the county office until a successor is confirmed
    interim: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the case whose signed transition started this term
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    #: the case whose signed transition ended it
    ended_by_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    #: the manager's education and age in full years on the start date, from the signed application
    #: (None for interim managers, whose form asks neither): the youth-policy profile reads them
    education: Mapped[str | None] = mapped_column(String(32))
    age_at_start: Mapped[int | None] = mapped_column(Integer)


class Inquiry(Base):
    """A question about the proposed manager sent to an agency; its answer is a signed record."""

    __tablename__ = "inquiries"
    __table_args__ = (
        CheckConstraint(f"status IN {INQUIRY_STATUSES}", name="inquiry_status"),
        CheckConstraint("result IS NULL OR result IN ('clear', 'not_clear')", name="inquiry_result"),
        Index("ix_inquiries_agency_status", "agency", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: which pass through the inquiries step of the case sent it
    round: Mapped[int] = mapped_column(Integer)
    #: criminal_record, addiction_test, education_verification, security_opinion
    kind: Mapped[str] = mapped_column(String(32))
    #: the agency code it is addressed to
    agency: Mapped[str] = mapped_column(String(32))
    subject_national_id: Mapped[str] = mapped_column(String(10))
    subject_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    result: Mapped[str | None] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship()


# --- figures kept as cases move (workflows.monitoring reads them; workflows.transitions writes them) ---

class CaseCount(Base):
    """How many cases a county office has per procedure and status, whenever they were created.

    Kept by ``transitions.Transition`` in the transaction that starts a case or changes its status (or
    gives a draft its county): the dashboard's counts read these rows, never the cases. Cases
    without a county (founding drafts) are not counted, as the dashboard never showed them.
    """

    __tablename__ = "case_counts"

    county_office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)


class CaseDayCount(Base):
    """The same counts per Tehran calendar day the cases were created on, for a date range."""

    __tablename__ = "case_day_counts"

    #: the day in Iran the case was created (``tehran_today(created_at)``); first, so a range reads the key in order
    created_on: Mapped[date] = mapped_column(Date, primary_key=True)
    county_office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)


class RecordTiming(Base):
    """A signed record as monitoring reads it: when, which step, which case and county, and how long
    it took since the case's previous record (or the case's creation, for its first).

    Written by ``Transition.sign`` with the record; a narrow copy of a few columns, so
    step times and decision rates over a date range read an index range of small rows instead of
    joining the signed records to themselves and to the cases.
    """

    __tablename__ = "record_timings"
    __table_args__ = (Index("ix_record_timings_created_at", "created_at"),
                      # a case's first and last record time, each one index probe (end-to-end times)
                      Index("ix_record_timings_case_id_created_at", "case_id", "created_at"))

    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    process_key: Mapped[str] = mapped_column(String(64))
    #: the case's county office when the record was signed (None while a draft has none)
    county_office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    task_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: seconds from the case's previous record (by seq), or from the case's creation for its first
    seconds: Mapped[float] = mapped_column(Float)
    #: the same span in working days of the case's county office (``workflows.working_time``); None before
    #: working time was kept
    working_days: Mapped[int | None] = mapped_column(Integer)
