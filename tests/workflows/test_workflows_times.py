"""Stored moments are UTC and come back aware on both databases, and a day in Tehran is the same
range of rows on SQLite as on PostgreSQL (SQLite keeps no offset: it would compare a Tehran
midnight by its wall-clock text, 3.5 hours off)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from forms import TEHRAN
from web.extensions import db
from workflows.models import LoginAttempt
from workflows.monitoring import MonitorFilters, day_bounds

#: 00:30 on 1405/09/14 in Tehran, still 4 December in UTC
LATE = datetime(2026, 12, 4, 21, 0, tzinfo=timezone.utc)


def _attempt(at: datetime) -> int:
    row = LoginAttempt(username="someone", address="192.0.2.1", succeeded=False, at=at)
    db.session.add(row)
    db.session.commit()
    return row.id


def test_a_stored_moment_comes_back_aware_in_utc_whatever_offset_it_went_in_with(app):
    row_id = _attempt(LATE.astimezone(TEHRAN))
    db.session.expire_all()
    loaded = db.session.get(LoginAttempt, row_id).at
    assert loaded == LATE and loaded.utcoffset() == timedelta(0)


def test_a_tehran_day_holds_the_rows_of_its_first_hours(app):
    just_after, just_before = _attempt(LATE), _attempt(LATE - timedelta(hours=1))  # 23:30 the day before
    start, end = day_bounds(MonitorFilters(date_from=date(2026, 12, 5), date_to=date(2026, 12, 5)))
    inside = set(db.session.scalars(select(LoginAttempt.id).where(LoginAttempt.at >= start, LoginAttempt.at < end)))
    assert just_after in inside and just_before not in inside
