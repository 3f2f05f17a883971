"""What is shown is proved: case status, the license, the center and every manager term are
checked against the signed records before a certificate is sealed, a page shows them or
verify-all passes; an edited row is refused, never sealed."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from support import ACTORS, PIN, found_center, in_county_review, login, user
from web.extensions import db
from workflows import facts
from workflows.audit import AuditEvent
from workflows.cases import complete_task, start_case
from workflows.models import Case, License, ManagerTerm, Record, tehran_today, utcnow


@pytest.fixture
def center_with_history(app):
    """A licensed center whose first manager retired and an interim manager took over:
    a founding case, a retirement case, two terms (one ended)."""
    center = found_center(app, ACTORS["applicant"])
    officer = user("arak_officer")
    case = start_case(db.session, process_key="manager_retirement", starter=officer, center=center)
    today = tehran_today(utcnow()).isoformat()
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=officer,
                  data={"effective_date": today, "reason": "رسیدن به سن بازنشستگی."}, pin=PIN)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=officer,
                  data={"continuity": "interim", "interim": {"full_name": "رضا قاسمی", "national_id": "0067749828",
                                                             "mobile": "09350001122"}}, pin=PIN)
    db.session.commit()
    assert case.status == "closed"
    founding = db.session.scalars(select(Case).where(Case.center_id == center.id,
                                                     Case.process_key == "center_founding")).one()
    return {"center": center, "founding": founding, "retirement": case}


def test_the_records_sign_the_registry_rows_and_a_clean_database_proves_them(app, center_with_history, runner):
    center = center_with_history["center"]
    proved, problems = facts.prove_center(db.session, center.id)
    assert problems == []
    license_ = db.session.scalars(select(License).where(License.center_id == center.id)).one()
    assert proved.license["number"] == license_.number and proved.center["name"] == center.name
    first, interim = proved.terms
    assert first["end_reason"] == "retired" and first["ended_by"] == center_with_history["retirement"].public_id
    assert interim["interim"] and interim["national_id"] == "0067749828" and proved.current_term == interim
    for case in center_with_history.values():
        if isinstance(case, Case):
            assert facts.prove_case(db.session, case).ok
    result = runner.invoke(args=["verify-all", "--quiet"])
    assert result.exit_code == 0, result.output


def _sql(statement: str, **values) -> None:
    db.session.execute(text(statement), values)
    db.session.commit()
    db.session.expire_all()


#: (table, column, new value); every column of a row that a page, certificate or export reads as a fact
CENTER_TAMPERING = [
    ("centers", "name", "کانون جعلی"), ("centers", "mosque_name", "مسجد جعلی"), ("centers", "address", "نشانی دیگر"),
    ("centers", "postal_code", "1111111111"), ("centers", "county_office_id", "@other_county"),
    ("centers", "applicant_id", "@applicant2"),
    ("licenses", "number", "99-1405-00099"), ("licenses", "status", "suspended"),
    ("licenses", "issued_at", "2020-01-01 00:00:00"), ("licenses", "case_id", "@retirement"),
    ("licenses", "center_id", "@new_center"),
    ("manager_terms", "national_id", "0013542419"), ("manager_terms", "full_name", "نام دیگر"),
    ("manager_terms", "start_date", "2020-01-01"), ("manager_terms", "planned_end", "2099-01-01"),
    ("manager_terms", "end_date", None), ("manager_terms", "end_reason", "resigned"),
    ("manager_terms", "interim", True), ("manager_terms", "education", "phd"), ("manager_terms", "age_at_start", 19),
    ("manager_terms", "case_id", "@retirement"), ("manager_terms", "ended_by_case_id", "@founding"),
    ("manager_terms", "center_id", "@new_center"),
]


def _value(value, history):
    if value == "@other_county":
        return db.session.scalar(text("SELECT id FROM offices WHERE code = 'markazi-saveh'"))
    if value == "@applicant2":
        return user("applicant2").id
    if value == "@new_center":
        _sql("INSERT INTO centers (name, mosque_name, county_office_id, address, postal_code, applicant_id, created_at) "
             "SELECT name, mosque_name, county_office_id, address, postal_code, applicant_id, created_at FROM centers "
             "WHERE id = :id", id=history["center"].id)
        return db.session.scalar(text("SELECT max(id) FROM centers"))
    if value in ("@retirement", "@founding"):
        return history[value[1:]].id
    return value


@pytest.mark.parametrize("table, column, value", CENTER_TAMPERING, ids=[f"{t}.{c}" for t, c, _ in CENTER_TAMPERING])
def test_an_edited_registry_row_is_refused_everywhere(app, client, runner, center_with_history, table, column, value):
    history = center_with_history
    center_id = history["center"].id
    new = _value(value, history)
    # the first term (the founding's) is the one edited: it has an end, a start case and an ending case
    where = {"centers": "id = :id", "licenses": "center_id = :id",
             "manager_terms": "id = (SELECT min(id) FROM manager_terms WHERE center_id = :id)"}[table]
    if column == "end_date":  # an ended term reopened would break the one-open-term index; end the other instead
        where = "id = (SELECT max(id) FROM manager_terms WHERE center_id = :id)"
        new = "2099-01-01"
    _sql(f"UPDATE {table} SET {column} = :value WHERE {where}", value=new, id=center_id)

    founding = db.session.get(Case, history["founding"].id)
    proof = facts.prove_case(db.session, founding)
    assert not proof.ok and proof.report.ok  # the chain is intact: it is the row that lies

    login(client, "applicant1")
    response = client.get(f"/cases/{founding.id}/certificate.pdf")
    assert response.status_code == 409 and response.mimetype == "text/html"
    assert "با رکوردهای امضاشده پرونده یکی نیست" in response.get_data(as_text=True)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "seal_refused")).one()
    assert event.target == f"case:{founding.id}" and json.loads(event.details)["problems"]

    result = runner.invoke(args=["verify-all", "--quiet"])
    assert result.exit_code == 1 and "fact_" in result.output, result.output


CASE_TAMPERING = [("status", "licensed"), ("outcome", "license_issued"), ("center_id", "@center"),
                  ("county_office_id", "@other_county"), ("title", "مسجد دیگر")]


@pytest.mark.parametrize("column, value", CASE_TAMPERING, ids=[c for c, _ in CASE_TAMPERING])
def test_an_edited_case_row_is_refused(app, client, runner, column, value):
    """The issue's own case: a rejected founding made "licensed" in the database is not sealed."""
    case = in_county_review(app)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"decision": "reject", "reason": "فضای آموزشی کافی نیست."}, pin=PIN)
    db.session.commit()
    assert case.status == "rejected"
    if value == "@center":
        value = found_center(app, "applicant2").id
    elif value == "@other_county":
        value = db.session.scalar(text("SELECT id FROM offices WHERE code = 'markazi-saveh'"))
    _sql(f"UPDATE cases SET {column} = :value WHERE id = :id", value=value, id=case.id)

    login(client, "applicant1")
    response = client.get(f"/api/v1/cases/{case.id}/certificate.pdf",
                          headers={"Authorization": f"Bearer {_token(client)}"})
    assert response.status_code == 409 and response.json["error"] == "unprovedfacts"
    assert any(item.startswith("case.") for item in response.json["errors"]["facts"])
    result = runner.invoke(args=["verify-all", "--quiet"])
    assert result.exit_code == 1 and f"case {case.id}: case." in result.output, result.output


def _token(client) -> str:
    response = client.post("/api/v1/auth/token", json={"username": "applicant1", "password": "demo1234"})
    return response.json["token"]


def test_a_deleted_outcome_record_or_term_row_is_found(app, runner, center_with_history):
    history = center_with_history
    _sql("DELETE FROM manager_terms WHERE id = (SELECT max(id) FROM manager_terms WHERE center_id = :id)",
         id=history["center"].id)
    _sql("UPDATE manager_terms SET end_date = NULL, end_reason = NULL, ended_by_case_id = NULL WHERE center_id = :id",
         id=history["center"].id)
    proved, problems = facts.prove_center(db.session, history["center"].id)
    assert {p.subject for p in problems} >= {f"term {proved.terms[1]['id']}", f"term {proved.terms[0]['id']}"}
    assert runner.invoke(args=["verify-all", "--quiet"]).exit_code == 1


def test_a_head_record_without_case_facts_proves_nothing(app, center_with_history):
    """Records made before the case facts were signed (or a head whose facts were cut) prove no status."""
    case = center_with_history["retirement"]
    assert facts.case_problems({"status": "closed", "outcome": "interim_appointed", "center_id": case.center_id,
                                "county": "markazi-arak", "title": case.title}, {"details": {}})[0].code == "fact_unproved"
    assert facts.case_problems({"status": "inquiries", "outcome": None, "center_id": None, "county": None,
                                "title": None}, None)[0].code == "fact_unproved"


def test_anyone_looks_up_a_license_by_its_number_and_reads_only_proved_facts(app, client, center_with_history):
    center = center_with_history["center"]
    number = db.session.scalars(select(License.number).where(License.center_id == center.id)).one()
    typed = number.replace("-", " ").translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    response = client.get("/verify", query_string={"token": typed})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/verify/license/{number}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert center.name in page and "رضا قاسمی" in page and "سرپرست کانون" in page
    assert "0067749828" not in page and center.address not in page  # no national id, no address in public
    assert 'id="facts-verdict">با رکوردهای امضاشده یکی است' in page
    answer = client.get(f"/api/v1/verify/license/{typed}").json
    assert answer["facts_ok"] and answer["center"]["license_number"] == number
    assert answer["center"]["manager_name"] == "رضا قاسمی" and answer["center"]["license_status"] == "active"

    assert client.get("/verify/license/00-1405-99999").status_code == 404
    assert client.get("/api/v1/verify/license/not-a-number").status_code == 404

    # the stored name is changed: the page says so, and shows the signed name, never the stored one
    _sql("UPDATE manager_terms SET full_name = 'نام جعلی' WHERE center_id = :id AND end_date IS NULL", id=center.id)
    page = client.get(f"/verify/license/{number}").get_data(as_text=True)
    assert "نام جعلی" not in page and "رضا قاسمی" in page
    assert 'id="facts-verdict">با رکوردهای امضاشده یکی نیست' in page
    answer = client.get(f"/api/v1/verify/license/{number}").json
    assert not answer["facts_ok"] and {"subject": answer["problems"][0]["subject"], "field": "full_name"} == \
        {"subject": answer["problems"][0]["subject"], "field": answer["problems"][0]["field"]}


def test_the_token_page_shows_no_status_the_records_do_not_prove(app, client):
    case = in_county_review(app)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("arak_officer"),
                  data={"decision": "reject", "reason": "فضای آموزشی کافی نیست."}, pin=PIN)
    db.session.commit()
    head = db.session.scalars(select(Record.hash).where(Record.case_id == case.id).order_by(Record.seq.desc())).first()
    token = f"{case.public_id}.{head[:20]}"
    page = client.get(f"/verify/{token}").get_data(as_text=True)
    assert "رد شد" in page
    _sql("UPDATE cases SET status = 'licensed', outcome = 'license_issued' WHERE id = :id", id=case.id)
    page = client.get(f"/verify/{token}").get_data(as_text=True)
    assert "مجوز صادر شد" not in page and 'id="facts-verdict">با رکوردهای امضاشده یکی نیست' in page
    answer = client.get(f"/api/v1/verify/{token}").json
    assert answer["chain_ok"] and not answer["facts_ok"] and answer["status"] is None


def test_the_registry_shows_and_exports_what_the_records_say_and_flags_a_stored_row_that_differs(
        app, client, center_with_history):
    center = center_with_history["center"]
    signed_name = center.name
    _sql("UPDATE centers SET name = 'کانون جعلی' WHERE id = :id", id=center.id)
    login(client, "arak_officer")
    listing = client.get("/centers").get_data(as_text=True)
    assert "کانون جعلی" not in listing and signed_name in listing and "تأییدنشده" in listing
    page = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert "کانون جعلی" not in page and 'id="facts-warning"' in page
    exported = client.get("/centers/export.json").json["centers"]
    row = next(r for r in exported if r["center_id"] == center.id)
    assert row["center_name"] == signed_name and row["proved"] is False
    assert row["manager_name"] == "رضا قاسمی" and row["manager_interim"] is True
    answer = client.get(f"/api/v1/centers/{center.id}", headers={"Authorization": f"Bearer {_officer_token(client)}"}).json
    assert answer["name"] == signed_name and not answer["proved"] and "center.name: fact_mismatch" in answer["problems"]


def _officer_token(client) -> str:
    return client.post("/api/v1/auth/token", json={"username": "arak_officer", "password": "demo1234"}).json["token"]


def test_the_case_page_says_when_the_stored_status_is_not_the_signed_one(app, client):
    case = in_county_review(app)
    login(client, "applicant1")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="facts-verification" class="ok"' in page
    _sql("UPDATE cases SET status = 'province_review' WHERE id = :id", id=case.id)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="facts-verification" class="bad"' in page and "case.status: fact_mismatch" in page
    answer = client.get(f"/api/v1/cases/{case.id}", headers={"Authorization": f"Bearer {_token(client)}"}).json
    assert answer["verification"]["ok"] and not answer["verification"]["facts_ok"]


def test_case_lists_flag_a_case_whose_stored_status_is_not_the_signed_one(app, client):
    case = in_county_review(app)
    login(client, "applicant1")
    token = _token(client)
    listed = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).json["cases"]
    assert next(c for c in listed if c["id"] == case.id)["proved"] is True
    assert "تأییدنشده" not in client.get("/cases").get_data(as_text=True)
    _sql("UPDATE cases SET status = 'province_review' WHERE id = :id", id=case.id)
    listed = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).json["cases"]
    assert next(c for c in listed if c["id"] == case.id)["proved"] is False
    assert "تأییدنشده" in client.get("/cases").get_data(as_text=True)


def test_a_csv_export_never_hands_a_spreadsheet_a_formula(app, client):
    """A mosque named like a formula is signed as typed, and exported so that no spreadsheet runs it."""
    from support import answer_all, application_fixture, upload_documents
    from web.listing import csv_cell

    assert [csv_cell(v) for v in ("=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx", "مسجد", 5)] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "مسجد", 5]
    # digits with a leading zero stay text in a spreadsheet; other digits and single zeros as they are
    assert [csv_cell(v) for v in ("0013542419", "0", "2389001122", "0x12")] == ['="0013542419"', "0", "2389001122", "0x12"]
    formula = '=HYPERLINK("http://evil.example","x")'
    case = start_case(db.session, process_key="center_founding", starter=user("applicant1"))
    data = application_fixture()
    data["mosque"]["name"], data["documents"] = formula, upload_documents(app, case)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user("applicant1"), data=data, pin=PIN)
    db.session.commit()
    answer_all(case, "clear", utcnow())
    for actor in ("county", "province"):
        complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS[actor]),
                      data={"decision": "approve"}, pin=PIN)
    db.session.commit()
    login(client, "arak_officer")
    text = client.get("/centers/export.csv").get_data(as_text=True)
    assert "'" + formula.replace('"', '""') in text and '",=' not in text and ",=" not in text


def test_centers_are_checked_once_a_read_and_again_after_anything_is_written(app):
    center = found_center(app, ACTORS["applicant"])
    db.session.commit()
    statements: list[str] = []
    engine = db.session.get_bind()

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)
    from sqlalchemy import event
    event.listen(engine, "before_cursor_execute", count)
    try:
        first = facts.check_centers(db.session, [center.id])[center.id]
        read = len(statements)
        again = facts.check_centers(db.session, [center.id])[center.id]
        assert read >= 4 and len(statements) == read  # the second list of the same center reads nothing
        assert again[0].center == first[0].center and again[1] == first[1] == []
        again[1].append("a caller's own list")  # what a caller adds stays its own
        assert facts.check_centers(db.session, [center.id])[center.id][1] == []
        # a row changed in the session: checked again, and its difference found
        db.session.get(type(center), center.id).name = "نام دیگر"
        changed = facts.check_centers(db.session, [center.id])[center.id][1]
        assert [(p.subject, p.field) for p in changed] == [("center", "name")]
        db.session.rollback()
        assert facts.check_centers(db.session, [center.id])[center.id][1] == []
        db.session.execute(text("UPDATE centers SET name = 'x' WHERE id = :id"), {"id": center.id})  # SQL text
        db.session.expire_all()  # the loaded row is read again (the memo went with the UPDATE)
        assert [(p.subject, p.field) for p in facts.check_centers(db.session, [center.id])[center.id][1]] == [
            ("center", "name")]
        db.session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", count)
