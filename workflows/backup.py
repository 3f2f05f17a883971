"""Backup and restore of the whole deployment: every table and every stored document, in one file.

The backup is a ZIP archive that any database of the product can take back: ``manifest.json``
(schema revision, row counts, SHA-256 of every member), one JSON-lines file per table under
``tables/`` and the uploaded documents under ``documents/`` by their SHA-256. Values are written
by column type (dates as ISO 8601, bytes as base64), so a backup of the embedded SQLite database
restores into PostgreSQL and back.

Restore fills an empty database that is at the backup's schema revision (``flask db upgrade``
first) in one transaction, checks each document against its digest, and moves PostgreSQL's id
sequences past the restored ids. Nothing is trusted because it came from a backup: the records,
certificates and log verify afterwards exactly as before (``flask verify-all``), and running cases
continue from their stored state.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Date, Integer, LargeBinary, MetaData, Table, func, select, text, update
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from workflows.documents import document_path
from workflows.models import UtcDateTime

FORMAT = "mosque-centers-backup/1"
_BATCH = 1000


class BackupError(Exception):
    """A backup that cannot be restored here, said in a sentence an operator can act on."""


def _metadata() -> MetaData:
    # every module that defines tables, so the metadata holds the whole schema
    from workflows import admin, audit, models, notifications  # noqa: F401
    return models.Base.metadata


def _deferred(table: Table) -> list[str]:
    """Columns restored in a second pass: foreign keys that close a cycle (``use_alter``)."""
    return [fk.parent.name for fk in table.foreign_keys if fk.use_alter]


def _encode(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, LargeBinary):
        return base64.b64encode(value).decode()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _decode(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, LargeBinary):
        return base64.b64decode(value)
    if isinstance(column_type, UtcDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column_type, Date):
        return date.fromisoformat(value)
    return value


def _rows(session: Session, table: Table) -> Iterator[dict]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = session.execute(select(table).order_by(*order)).mappings()
    for row in result:
        yield {name: _encode(table.c[name].type, value) for name, value in row.items()}


def schema_revision(session: Session) -> str | None:
    try:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):  # made without migrations (tests): no such table
        session.rollback()
        return None


def create(session: Session, storage_dir: Path, out: Path) -> dict:
    """Write the backup of the database behind ``session`` and the documents in ``storage_dir``."""
    manifest: dict[str, Any] = {"format": FORMAT, "schema_revision": schema_revision(session),
                                "tables": {}, "documents": {}, "sha256": {}}
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in _metadata().sorted_tables:
            lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in _rows(session, table)]
            data = ("\n".join(lines) + "\n" if lines else "").encode()
            name = f"tables/{table.name}.jsonl"
            archive.writestr(name, data)
            manifest["tables"][table.name] = len(lines)
            manifest["sha256"][name] = hashlib.sha256(data).hexdigest()
        documents = _metadata().tables["documents"]
        for (sha256,) in session.execute(select(documents.c.sha256).order_by(documents.c.sha256)):
            path = document_path(storage_dir, sha256)
            if not path.exists():
                raise BackupError(f"document {sha256} is in the database but not in {storage_dir}")
            archive.write(path, f"documents/{sha256}")
            manifest["documents"][sha256] = path.stat().st_size
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(out)
    return manifest


def restore(session: Session, storage_dir: Path, backup: Path) -> dict:
    """Fill the empty database behind ``session`` (at the backup's schema revision) from ``backup``.

    Flushes only: the caller commits, so a failure leaves the database as empty as it was.
    """
    try:
        archive = zipfile.ZipFile(backup)
    except (OSError, zipfile.BadZipFile) as error:
        raise BackupError(f"{backup} is not a backup archive: {error}") from None
    with archive:
        manifest = _manifest(archive)
        here = schema_revision(session)
        if manifest["schema_revision"] != here:
            raise BackupError(f"the backup is of schema revision {manifest['schema_revision']}, this database is at "
                              f"{here}: run `flask --app web db upgrade {manifest['schema_revision']}` on an empty "
                              "database first")
        metadata = _metadata()
        unknown = set(manifest["tables"]) - set(metadata.tables)
        if unknown:
            raise BackupError(f"the backup has tables this version does not know: {sorted(unknown)}")
        for table in metadata.sorted_tables:
            if session.scalar(select(func.count()).select_from(table)):
                raise BackupError(f"the database is not empty (table {table.name} has rows): restore needs an "
                                  "empty database")
        later: list[tuple[Table, dict, dict]] = []
        for table in metadata.sorted_tables:
            deferred = _deferred(table)
            batch: list[dict] = []
            for row in _table_rows(archive, manifest, table):
                if deferred and any(row.get(name) is not None for name in deferred):
                    later.append((table, {c.name: row[c.name] for c in table.primary_key.columns},
                                  {name: row[name] for name in deferred}))
                    row = {**row, **{name: None for name in deferred}}
                batch.append(row)
                if len(batch) >= _BATCH:
                    session.execute(table.insert(), batch)
                    batch = []
            if batch:
                session.execute(table.insert(), batch)
        for table, key, values in later:
            session.execute(update(table).where(*(table.c[k] == v for k, v in key.items())).values(**values))
        _restore_documents(archive, manifest, storage_dir)
        _advance_sequences(session, metadata)
        session.flush()
    return manifest


def read_manifest(backup: Path) -> dict:
    """The manifest of a backup file, its members checked against their digests."""
    try:
        with zipfile.ZipFile(backup) as archive:
            return _manifest(archive)
    except (OSError, zipfile.BadZipFile) as error:
        raise BackupError(f"{backup} is not a backup archive: {error}") from None


def _manifest(archive: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError) as error:
        raise BackupError(f"the archive has no readable manifest: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"not a backup of this product (format {manifest.get('format')!r})")
    for name, digest in manifest["sha256"].items():
        if hashlib.sha256(archive.read(name)).hexdigest() != digest:
            raise BackupError(f"{name} does not match its digest in the manifest: the backup is damaged")
    return manifest


def _table_rows(archive: zipfile.ZipFile, manifest: dict, table: Table) -> Iterator[dict]:
    name = f"tables/{table.name}.jsonl"
    if table.name not in manifest["tables"]:
        return
    columns = {c.name: c for c in table.columns}
    count = 0
    for line in archive.read(name).decode().splitlines():
        raw = json.loads(line)
        missing = set(columns) - set(raw)
        if missing or set(raw) - set(columns):
            raise BackupError(f"{table.name}: the backup's columns differ from this schema ({sorted(missing)})")
        count += 1
        yield {key: _decode(columns[key].type, value) for key, value in raw.items()}
    if count != manifest["tables"][table.name]:
        raise BackupError(f"{table.name}: {count} rows in the archive, {manifest['tables'][table.name]} in the manifest")


def _restore_documents(archive: zipfile.ZipFile, manifest: dict, storage_dir: Path) -> None:
    for sha256 in manifest["documents"]:
        content = archive.read(f"documents/{sha256}")
        if hashlib.sha256(content).hexdigest() != sha256:
            raise BackupError(f"document {sha256} does not match its digest: the backup is damaged")
        path = document_path(storage_dir, sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(path.name + ".part")
            part.write_bytes(content)
            part.replace(path)


def _advance_sequences(session: Session, metadata: MetaData) -> None:
    """PostgreSQL: the next generated id of every table follows the restored ones."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite continues after the largest id by itself
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) != 1 or not isinstance(key[0].type, Integer):
            continue
        sequence = session.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                  {"t": table.name, "c": key[0].name})
        if sequence:
            session.execute(text("SELECT setval(:s, COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)"
                                 .format(c=key[0].name, t=table.name)), {"s": sequence})
