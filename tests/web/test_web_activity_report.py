"""A licensed center files its season's report through the pages — programmes, participants by age band
and gender, members with national IDs — and the county acknowledges it (``bpmn/activity_report.bpmn``)."""
from __future__ import annotations

import json
from datetime import timedelta

from office_support import national_id
from support import ACTORS, found_center, login
from test_web_procedures import post_task, start_from_center
import web.dashboard
import web.scope
from web.extensions import db
from web.scope import period_label
from workflows import procedures, reporting
from workflows.models import Case, Record, tehran_today, utcnow


def _report(members: list[str]) -> dict:
    form = {"year": "۱۴۰۵", "season": "3", "programmes.0.title": "کلاس قرآن نوجوانان", "programmes.0.kind": "class",
            "programmes.0.held_on": "1405/08/20", "programmes.0.participants": "۴۰"}
    for band in ("under_12", "12_17", "18_35", "over_35"):
        form[f"participants.male_{band}"] = form[f"participants.female_{band}"] = "5"
    for number, code in enumerate(members):
        form.update({f"members.{number}.full_name": f"عضو شماره {number + 1}", f"members.{number}.national_id": code,
                     f"members.{number}.gender": "female", f"members.{number}.birth_year": "1390"})
    return form


def test_the_holder_files_a_season_and_a_member_twice_or_a_wrong_id_is_refused_in_persian(app, client):
    center = found_center(app, ACTORS["applicant"])
    login(client, ACTORS["applicant"])
    assert 'id="start-activity_report"' in client.get(f"/centers/{center.id}").get_data(as_text=True)
    case_id = start_from_center(client, center.id, "activity_report")
    first, second = national_id(611), national_id(612)
    wrong = first[:-1] + str((int(first[-1]) + 1) % 10)
    for members, message in (([first, wrong], "کد ملی نامعتبر است."), ([first, first], "این مقدار در فهرست تکراری است.")):
        refused = post_task(client, case_id, _report(members))
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), members
    # a programme of 90 in a season the age and gender table counts 40 for: the table cannot be its programmes'
    counted = post_task(client, case_id, {**_report([first, second]), "programmes.0.participants": "۹۰"})
    assert counted.status_code == 422 and "جمع جدول سن و جنسیت (۴۰ نفر) با برنامه‌ها نمی‌خواند" in \
        counted.get_data(as_text=True) and "پرشمارترین برنامه (۹۰ نفر)" in counted.get_data(as_text=True)
    assert db.session.query(Record).filter(Record.case_id == case_id).count() == 0
    assert post_task(client, case_id, _report([first, second])).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "county_acknowledge"
    signed = json.loads(db.session.query(Record).filter(Record.case_id == case_id).one().form_data)
    assert signed["year"] == 1405 and [m["national_id"] for m in signed["members"]] == [first, second]
    assert signed["participants"]["female_12_17"] == 5 and signed["programmes"][0]["participants"] == 40

    client.post("/logout")
    login(client, "arak_officer")
    assert post_task(client, case_id, {"decision": "approve"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "acknowledged"

    client.post("/logout")
    login(client, ACTORS["applicant"])
    again = start_from_center(client, center.id, "activity_report")
    refused = post_task(client, again, _report([first, second]))
    page = refused.get_data(as_text=True)
    persian_id = str(case_id).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert refused.status_code == 422 and f"همین برای این کانون پیش‌تر در پرونده #{persian_id} امضا شده است" in page
    assert post_task(client, again, {**_report([first, second]), "season": "4"}).status_code == 302


def test_a_center_that_reports_nothing_is_listed_for_its_county_and_flagged_for_its_province(app, client,
                                                                                            monkeypatch):
    center = found_center(app, ACTORS["applicant"])
    rule = next(r for r in reporting.rules(procedures.newest_tables(db.session)))
    licensed_on = tehran_today(utcnow())
    later = licensed_on + timedelta(days=400)  # the pages are read a year and more after the license
    for module in (web.scope, web.dashboard):
        monkeypatch.setattr(module, "tehran_today", lambda _moment: later)
    due = [p for p in reporting.due_periods(rule, later) if p.first_day >= licensed_on]
    assert len(due) >= rule.flag_after

    login(client, "arak_officer")
    inbox = client.get("/inbox").get_data(as_text=True)
    assert 'id="missed-reports"' in inbox and f'id="missed-{center.id}"' in inbox
    assert all(period_label(p) in inbox for p in due) and "برای استان نشان داده شد" in inbox
    client.post("/logout")
    login(client, "saveh_officer")  # another county: not theirs
    assert f'id="missed-{center.id}"' not in client.get("/inbox").get_data(as_text=True)
    client.post("/logout")
    login(client, "markazi_officer")  # its province: flagged after two missed seasons
    assert f'id="missed-{center.id}"' in client.get("/inbox").get_data(as_text=True)
    page = client.get("/monitoring").get_data(as_text=True)
    assert 'id="section-reports"' in page and f'id="missed-{center.id}"' in page
    exported = client.get("/monitoring/reports.csv").get_data(as_text=True)
    row = next(line for line in exported.splitlines() if f",{center.id}," in line)
    assert "بله" in row and period_label(due[-1]) in row
    client.post("/logout")
    login(client, "isfahan_officer")  # another province
    assert f'id="missed-{center.id}"' not in client.get("/monitoring").get_data(as_text=True)
    client.post("/logout")

    # a season's report, once signed, takes the season off the lists
    login(client, ACTORS["applicant"])
    case_id = start_from_center(client, center.id, "activity_report")
    assert post_task(client, case_id, {**_report([]), "year": str(due[-1].year),
                                       "season": str(due[-1].number)}).status_code == 302
    client.post("/logout")
    login(client, "arak_officer")
    inbox = client.get("/inbox").get_data(as_text=True)
    assert f'id="missed-{center.id}"' in inbox and period_label(due[-1]) not in inbox.split('id="missed-reports"')[1]


def test_the_county_sees_on_its_desk_a_member_another_center_also_counts(app, client):
    first_center = found_center(app, ACTORS["applicant"])
    second_center = found_center(app, "applicant2", national_id(720))
    shared, own = national_id(721), national_id(722)
    login(client, ACTORS["applicant"])
    first_case = start_from_center(client, first_center.id, "activity_report")
    assert post_task(client, first_case, _report([shared])).status_code == 302
    client.post("/logout")
    login(client, "applicant2")
    second_case = start_from_center(client, second_center.id, "activity_report")
    assert post_task(client, second_case, _report([own, shared])).status_code == 302
    client.post("/logout")

    login(client, "arak_officer")
    db.session.expire_all()
    task = db.session.get(Case, second_case).tasks[0]
    desk = client.get(f"/cases/{second_case}/tasks/{task.task_id}").get_data(as_text=True)
    assert 'id="desk-shared-members"' in desk
    listed = desk.split('id="desk-shared-members"')[1].split("</section>")[0]
    assert f'id="shared-{shared}"' in listed and f'id="shared-{own}"' not in listed
    assert f"/centers/{first_center.id}\"" in listed and f"/centers/{second_center.id}\"" not in listed
    task = db.session.get(Case, first_case).tasks[0]  # the first center's report names the second's in turn
    desk = client.get(f"/cases/{first_case}/tasks/{task.task_id}").get_data(as_text=True)
    assert f"/centers/{second_center.id}\"" in desk.split('id="desk-shared-members"')[1].split("</section>")[0]
