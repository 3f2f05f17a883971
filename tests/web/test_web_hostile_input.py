"""Hostile input: control characters, lone surrogates and decompression bombs get a clear,
field-keyed refusal (or are dropped from a search), never a 500 and never a signed record."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from sqlalchemy import func, select

from support import application_fixture, login, pdf_bytes, png_bytes
from web.extensions import db
from workflows.models import Record


def _token(client, username="applicant1") -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo1234"})
    return {"Authorization": f"Bearer {response.json['token']}"}


def _bomb_png() -> bytes:
    """A valid PNG whose header claims 100000 × 100000 pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def test_a_nul_in_a_username_is_a_field_error(client):
    response = client.post("/api/v1/auth/token", json={"username": "admin\u0000", "password": "demo1234"})
    assert response.status_code == 422 and list(response.json["errors"]) == ["username"]


@pytest.mark.parametrize("path", ["/api/v1/centers?q=%00", "/api/v1/tasks?q=%00", "/inbox?q=%00", "/centers?q=%00",
                                  "/centers?q=%1b%07x", "/api/v1/centers?q=%ED%A0%80"])
def test_a_control_character_in_a_search_is_dropped_not_a_500(client, path):
    headers = _token(client, "arak_officer") if path.startswith("/api/") else {}
    if not path.startswith("/api/"):
        login(client, "arak_officer")
    assert client.get(path, headers=headers).status_code == 200


def test_a_nul_document_name_is_not_found(client):
    headers = _token(client)
    case = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers).json
    login(client, "applicant1")
    assert client.get(f"/cases/{case['id']}/documents/%00").status_code == 404


@pytest.mark.parametrize("field, value", [("mosque.address", "خیابان امام\u0000 پلاک ۳"), ("mosque.name", "مسجد\u0007"),
                                          ("manager.first_name", "علی\u001b"), ("founding_board.0.full_name", "\ud800")])
def test_an_application_with_a_control_character_is_refused_by_its_field_and_nothing_is_signed(client, field, value):
    headers = _token(client)
    case = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers).json
    data = application_fixture()
    digests = {}
    for name, content in (("manager_id_copy", png_bytes("red")), ("manager_photo", png_bytes()),
                          ("manager_degree", pdf_bytes())):
        digests[name] = client.post(f"/api/v1/cases/{case['id']}/documents", headers=headers,
                                    data={"file": (io.BytesIO(content), f"{name}\u0000.png")},
                                    content_type="multipart/form-data").json["sha256"]
    data["documents"] = digests
    target = data
    *parents, last = field.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    task = case["tasks"][0]["id"]
    before = db.session.scalar(select(func.count()).select_from(Record))
    response = client.post(f"/api/v1/cases/{case['id']}/tasks/{task}/complete", headers=headers,
                           json={"data": data, "pin": "1405"})
    assert response.status_code == 422 and field in response.json["errors"], response.json
    assert db.session.scalar(select(func.count()).select_from(Record)) == before


def test_a_lone_surrogate_in_a_draft_is_a_field_error(client):
    headers = _token(client)
    case = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers).json
    task = case["tasks"][0]["id"]
    response = client.put(f"/api/v1/cases/{case['id']}/tasks/{task}/draft", headers=headers,
                          data='{"data": {"mosque": {"name": "\\ud800"}}}', content_type="application/json")
    assert response.status_code == 422 and "mosque.name" in response.json["errors"], response.json


def test_an_image_claiming_ten_billion_pixels_is_refused(client):
    headers = _token(client)
    case = client.post("/api/v1/cases", json={"process_key": "center_founding"}, headers=headers).json
    response = client.post(f"/api/v1/cases/{case['id']}/documents", headers=headers,
                           data={"file": (io.BytesIO(_bomb_png()), "bomb.png")}, content_type="multipart/form-data")
    assert response.status_code == 422 and "file" in response.json["errors"], response.json
