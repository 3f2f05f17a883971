"""The office tree as data: headquarters → 31 provinces → counties, read from a JSON file.

The file (``workflows/data/offices.json``, format in the README) is the source of the tree;
``load_offices`` adds what the database lacks and never removes or renames what it has, so
running it again after adding counties to the file adds just those.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.models import Office

__all__ = ["OFFICES_FILE", "OfficeSpec", "OfficeTreeError", "read_office_tree", "load_offices", "office_label"]

#: the tree shipped with the project
OFFICES_FILE = Path(__file__).resolve().parent / "data" / "offices.json"
#: office codes: lowercase latin letters, digits and dashes (they appear in URLs and signed records)
CODE = re.compile(r"[a-z][a-z0-9-]{1,31}")


class OfficeTreeError(ValueError):
    """The office file is malformed: a duplicate code, a bad code or number, a missing name."""


@dataclass(frozen=True)
class OfficeSpec:
    code: str
    name: str
    kind: str
    parent_code: str | None
    #: the province's number in license numbers (provinces only)
    number: int | None = None


def read_office_tree(path: Path = OFFICES_FILE) -> list[OfficeSpec]:
    """The offices of the file, parents before children; OfficeTreeError when it is malformed."""
    try:
        data = json.loads(path.read_text("utf-8"))
        hq = data["headquarters"]
        specs = [OfficeSpec(hq["code"], hq["name"], "hq", None)]
        for province in data["provinces"]:
            specs.append(OfficeSpec(province["code"], province["name"], "province", hq["code"], province["number"]))
            specs += [OfficeSpec(county["code"], county["name"], "county", province["code"])
                      for county in province.get("counties", [])]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise OfficeTreeError(f"{path}: {error!r}") from None
    codes = [spec.code for spec in specs]
    if len(set(codes)) != len(codes):
        raise OfficeTreeError(f"duplicate office codes: {sorted({c for c in codes if codes.count(c) > 1})}")
    for spec in specs:
        if not isinstance(spec.code, str) or not CODE.fullmatch(spec.code):
            raise OfficeTreeError(f"bad office code {spec.code!r}")
        if not isinstance(spec.name, str) or not spec.name.strip():
            raise OfficeTreeError(f"office {spec.code} has no name")
    numbers = [spec.number for spec in specs if spec.kind == "province"]
    if any(not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 99 for n in numbers) \
            or len(set(numbers)) != len(numbers):
        raise OfficeTreeError("every province needs its own number from 0 to 99")
    return specs


def load_offices(session: Session, specs: list[OfficeSpec]) -> dict[str, Office]:
    """Add the offices the database lacks; returns every office of the tree by code."""
    existing = {office.code: office for office in session.scalars(select(Office))}
    for spec in specs:
        if spec.code in existing:
            continue
        office = Office(code=spec.code, name=spec.name, kind=spec.kind, number=spec.number,
                        parent=existing[spec.parent_code] if spec.parent_code else None)
        session.add(office)
        existing[spec.code] = office
    session.flush()
    return existing


def office_label(office: Office) -> str:
    """«county (province)» for counties, the name otherwise."""
    if office.kind == "county" and office.parent is not None:
        return f"{office.name} ({office.parent.name})"
    return office.name
