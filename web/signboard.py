"""A licensed center's standard signboard and banner, drawn from its proved facts as print-ready SVG and PDF.

The sizes are data (``bpmn/signboards.json``). What a board says (the center's name, its mosque, the
license number, the county and province, and a QR code to the license's public verification page)
is read from the signed records (``facts.prove_center``): a center whose rows the records do not
prove gets no board, nor does a license that is not in force today. The SVG embeds its font and draws
its QR code as a vector path, so a print shop needs nothing else; the PDF is the same layout
rendered by WeasyPrint at the board's real size.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import qrcode
import qrcode.image.svg
from fontTools.ttLib import TTFont
from flask import current_app, render_template, url_for
from sqlalchemy import select

from forms import t, to_persian_digits
from signing import render_pdf
from web.extensions import db
from workflows import facts, procedures
from workflows.errors import Conflict, NotFound, UnprovedFacts
from workflows.models import Center, Office, tehran_today, utcnow

__all__ = ["Size", "LicenseNotInForce", "sizes", "board", "svg", "pdf"]


class LicenseNotInForce(Conflict):
    """A board is drawn only for a license in force today."""

    message_key = "web.signboard.not_in_force"


@dataclass(frozen=True)
class Size:
    code: str
    label: str
    #: "sign" (a board over the door) or "banner" (a wide cloth)
    kind: str
    width_cm: int
    height_cm: int


def sizes() -> list[Size]:
    """The standard sizes of the newest deployed tables, in their order."""
    table = procedures.newest_tables(db.session).get("signboards", {}).get("sizes", {})
    return [Size(code, entry["label"], entry["kind"], int(entry["width_cm"]), int(entry["height_cm"]))
            for code, entry in table.items() if not code.startswith("_")]


def board(center: Center, size_code: str) -> dict:
    """What a board of this size shows and where, in millimetres (the SVG and the PDF share it).

    NotFound for an unknown size; UnprovedFacts when the center's rows are not what its records say;
    Conflict when its license is not in force today."""
    size = next((s for s in sizes() if s.code == size_code), None)
    if size is None:
        raise NotFound("signboard size")
    proved, problems = facts.prove_center(db.session, center.id)
    if problems:
        raise UnprovedFacts(problems)
    status = facts.license_status(proved.license, tehran_today(utcnow()))
    if status != "active":
        raise LicenseNotInForce(f"the license is {status}")
    county = db.session.scalars(select(Office).where(Office.code == proved.center["county"])).one()
    number = proved.license["number"]
    base = current_app.config["PUBLIC_BASE_URL"]
    verify_url = f"{base}{url_for('public.verify_license', number=number)}"
    width, height = size.width_cm * 10, size.height_cm * 10
    band = round(height * (0.16 if size.kind == "sign" else 0.2))
    margin = round(height * 0.06)
    caption = round(margin * 0.6)
    qr_side = round(min(height - band - 2 * margin - 2 * caption, width * 0.3))
    left, right = margin + qr_side + margin, width - margin  # the text's room beside the QR code
    name = to_persian_digits(proved.center["name"])
    texts = [_fitted(t("web.signboard.header"), round(band * 0.42), width // 2, round(band * 0.68),
                     width - 2 * margin, "#ffffff")]
    most = round(height * (0.15 if size.kind == "sign" else 0.2))
    centre, room = (left + right) // 2, right - left
    lines = [_fitted(name, most, centre, 0, room, "#17604f")]
    if lines[0]["size"] < most * 0.6 and " " in name:  # a long name reads better on two larger lines
        words = name.split(" ")
        cut = min(range(1, len(words)), key=lambda i: abs(_advance(" ".join(words[:i])) - _advance(" ".join(words[i:]))))
        halves = [" ".join(words[:cut]), " ".join(words[cut:])]
        size_two = min(_fitted(half, most, centre, 0, room, "")["size"] for half in halves)
        lines = [{**_fitted(half, most, centre, 0, room, "#17604f"), "size": size_two} for half in halves]
    # the license number reads left to right inside the Persian line (an isolate keeps its dashes in place)
    named = lines[0]["size"]  # the lines below read smaller than the name
    lines += [_fitted(t("web.signboard.license", number=f"\u2066{to_persian_digits(number)}\u2069"),
                      min(round(height * 0.07), round(named * 0.7)), centre, 0, room, "#1b2a3a"),
              _fitted(to_persian_digits(f"{county.name} · {county.parent.name}"),
                      min(round(height * 0.06), round(named * 0.6)), centre, 0, room, "#1b2a3a")]
    # the block of lines, each 1.5 of its size below the one before, centred on the QR code beside it
    gaps = [0] + [round(line["size"] * 1.5) for line in lines[1:]]
    block = lines[0]["size"] + sum(gaps)  # from the first line's top to the last one's baseline
    y = band + margin + max(0, qr_side // 2 - block // 2) + lines[0]["size"]
    for line, gap in zip(lines, gaps):
        y += gap
        texts.append({**line, "y": y})
    texts.append(_fitted(t("web.signboard.scan"), caption, margin + qr_side // 2,
                         band + margin + qr_side + round(caption * 1.5), qr_side, "#1b2a3a"))
    return {"size": size, "width": width, "height": height, "band": band, "margin": margin, "name": name,
            "texts": texts, "qr": _qr(verify_url), "qr_side": qr_side, "qr_x": margin, "qr_y": band + margin,
            "verify_url": verify_url}


def _fitted(text: str, most: int, x: int, y: int, room: int, fill: str) -> dict:
    """A line of text centred on ``x`` with its baseline at ``y`` (mm), as large as ``most`` allows and no
    wider than ``room``: its width measured from the font's advances (a joined Persian word is no wider)."""
    size = max(1, min(most, int(room / (_advance(text) * 1.04))))
    return {"text": text, "size": size, "x": x, "y": y, "room": room, "fill": fill}


@cache
def _metrics() -> tuple[dict[int, str], object, int]:
    font = TTFont(current_app.config["FONT_DIR"] / "Vazirmatn-Bold.ttf")
    return font.getBestCmap(), font["hmtx"], font["head"].unitsPerEm


def _advance(text: str) -> float:
    """The text's width in ems of the board's font."""
    cmap, hmtx, per_em = _metrics()
    space = cmap[0x20]
    return sum(hmtx[cmap.get(ord(c), space)][0] for c in text) / per_em


def _qr(text: str) -> dict:
    """The QR code as one vector path: ``{"path": d, "modules": n}`` in a square of n×n modules."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=0,
                        error_correction=qrcode.constants.ERROR_CORRECT_M)
    drawn = image.to_string(encoding="unicode")
    modules = int(re.search(r'viewBox="0 0 (\d+) ', drawn).group(1))
    return {"path": re.search(r' d="([^"]+)"', drawn).group(1), "modules": modules}


@cache
def _font(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def svg(center: Center, size_code: str) -> str:
    """The board as an SVG document with its font embedded."""
    drawn = board(center, size_code)
    font = _font(current_app.config["FONT_DIR"] / "Vazirmatn-Bold.ttf")
    return render_template("signboard.svg", font=font, **drawn)


def pdf(center: Center, size_code: str) -> bytes:
    """The board as a one-page PDF of its real size."""
    drawn = board(center, size_code)
    font_dir = current_app.config["FONT_DIR"]
    qr = render_template("signboard_qr.svg", **drawn)
    html = render_template("signboard.html", font_dir=font_dir.as_uri(),
                           qr_uri="data:image/svg+xml;base64," + base64.b64encode(qr.encode("utf-8")).decode("ascii"),
                           **drawn)
    return render_pdf(html, base_url=font_dir.as_uri() + "/", allowed_roots=[str(font_dir)])
