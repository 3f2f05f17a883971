"""Helpers the tests share: demo accounts, sample uploads, the scenario fixture data."""
from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from web.extensions import db
from workflows.models import User

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = ROOT / "bpmn" / "scenarios"
PIN = "1405"
PASSWORD = "demo1234"
#: which demo account plays each actor of a scenario
ACTORS = {"applicant": "applicant1", "county": "arak_officer", "province": "markazi_officer"}


def user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def login(client, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def png_bytes(color: str = "green") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 40), color).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes(text: str = "degree") -> bytes:
    body = f"%PDF-1.4\n% {text}\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    return body.encode()


def application_fixture() -> dict:
    return json.loads((SCENARIO_DIR / "center_founding" / "fixtures.json").read_text("utf-8"))["application"]
