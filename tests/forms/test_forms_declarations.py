"""Forms declared as data: what a declaration may say, what it becomes, and every way it is refused."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from forms import DeclarationError, FormError, FormSet

SHIPPED = Path(__file__).resolve().parents[2] / "bpmn" / "forms"


def files(**forms) -> dict:
    """Declarations: the shipped choices and shared sections, and the given forms."""
    found = {path.name: json.loads(path.read_text("utf-8")) for path in SHIPPED.glob("*.json")
             if not path.name.endswith(".form.json")}
    return found | {f"{key}.form.json": form for key, form in forms.items()}


def problems(**forms) -> list[str]:
    with pytest.raises(DeclarationError) as refused:
        FormSet.build(files(**forms))
    return refused.value.problems


VISIT = {
    "title": "گزارش بازدید",
    "done": "گزارش ثبت شد.",
    "fields": [
        {"name": "visited_on", "label": "تاریخ بازدید", "type": "date", "past": True},
        {"name": "area_m2", "label": "مساحت", "type": "integer", "min": 1, "max": 1000, "help": "به متر مربع"},
        {"name": "result", "label": "نتیجه", "type": "choice", "choices": {"approve": "مطابق", "return": "نامطابق"}},
        {"name": "findings", "label": "یافته‌ها", "type": "text", "max_length": 500, "required": False},
        {"name": "interim", "label": "سرپرست", "type": "section", "section": "interim", "required": False},
    ],
    "rules": [{"when": {"result": "return"}, "require": "findings", "min_length": 5, "message": "یافته‌ها را بنویسید."}],
    "variables": {"visit": {"result": "result", "area": {"value": "area_m2", "default": 0}}},
}


def test_a_declared_form_validates_describes_and_hands_its_variables():
    form = FormSet.build(files(site_visit=VISIT)).get("site_visit")
    assert (form.title, form.done) == ("گزارش بازدید", "گزارش ثبت شد.")
    cleaned = form.validate({"visited_on": "۱۴۰۵/۰۳/۱۰", "area_m2": "۱۲۰", "result": "approve"})
    assert cleaned == {"visited_on": "2026-05-31", "area_m2": 120, "result": "approve"}
    assert form.workflow_variables(cleaned, date(2026, 6, 1)) == {"visit": {"result": "approve", "area": 120}}
    with pytest.raises(FormError) as refused:
        form.validate({"visited_on": "1405/03/10", "area_m2": 120, "result": "return", "findings": "بد"})
    assert refused.value.errors == {"findings": ["یافته‌ها را بنویسید."]}
    with pytest.raises(FormError) as refused:
        form.validate({"visited_on": "1405/03/10", "area_m2": 120, "result": "maybe", "extra": 1})
    assert set(refused.value.errors) == {"result", "extra"}
    described = {f["path"]: f for f in form.describe()["fields"]}
    assert described["area_m2"]["help"] == "به متر مربع"
    assert described["result"]["choices"] == [{"value": "approve", "label": "مطابق"}, {"value": "return", "label": "نامطابق"}]
    # the shared section brings its own fields and labels, under the form's path
    assert [f["path"] for f in described["interim"]["fields"]] == ["interim.full_name", "interim.national_id", "interim.mobile"]
    assert form.label("interim.national_id") == "کد ملی سرپرست"


def test_every_problem_of_a_declaration_is_listed_at_once():
    broken = {
        "fields": [
            {"name": "a", "type": "txt", "label": "الف"},
            {"name": "b", "type": "text", "label": "ب"},
            {"name": "c", "type": "choice", "label": "پ", "choices": "no_such_set"},
            {"name": "d", "type": "integer", "label": "", "min": 1, "max": 2},
            {"name": "e", "type": "section", "label": "ه", "section": "nowhere"},
            {"name": "f", "type": "text", "label": "و", "max_length": 10, "colour": "red"},
            {"name": "g", "type": "list", "label": "ز", "min_items": 1, "max_items": 3,
             "fields": [{"name": "doc", "type": "document", "label": "سند"}]},
        ],
        "rules": [{"when": {"zzz": 1}, "require": "b", "message": "x"}],
        "variables": {"v": "nowhere.at_all", "w": {"age": "f"}},
        "case": {"county": "f", "colour": "f"},
    }
    found = "\n".join(problems(broken=broken))
    for expected in (
        "title: a Persian title is required",
        "broken.form.json: a: unknown type 'txt'",
        "broken.form.json: b: a text field needs 'max_length'",
        "c: choices: no choice set 'no_such_set' in choices.json",
        "d: a Persian label is required",
        "e: section: no file nowhere.section.json",
        "f: 'colour' is not an attribute of a text field",
        "a document field may not be inside a list",
        "'zzz' is not a required field here",
        "variables.v: 'nowhere.at_all' is not a field of the form",
        "variables.w.age: 'f' is a text field, not a date",
        "case.county: 'f' must be a code field with \"office\": \"county\"",
        "case.colour: a form may set only county, title",
    ):
        assert expected in found, (expected, found)


def test_a_rule_may_only_require_or_forbid_an_optional_field():
    form = {"title": "ت", "fields": [{"name": "a", "type": "choice", "label": "الف", "choices": "gender"},
                                      {"name": "b", "type": "text", "label": "ب", "max_length": 5}],
            "rules": [{"when": {"a": "male"}, "forbid": "b", "message": "نه"}]}
    assert any("'b' must be declared \"required\": false" in p for p in problems(rule=form))


def test_files_that_are_not_declarations_are_refused():
    broken = files()
    broken["notes.txt"] = "hello"
    broken["x.form.json"] = ["a", "list"]
    with pytest.raises(DeclarationError) as refused:
        FormSet.build(broken)
    text = "\n".join(refused.value.problems)
    assert "notes.txt: a forms file is" in text and "x.form.json: must be a JSON object" in text


def test_the_shipped_declarations_build():
    shipped = FormSet.read(SHIPPED)
    assert {"founding_application", "review_decision", "inquiry_answer"} <= set(shipped.forms)
    assert shipped.choice_label("education", "bachelor") == "کارشناسی"
    assert shipped.get("founding_application").documents == (
        "documents.manager_id_copy", "documents.manager_photo", "documents.manager_degree")
    assert shipped.get("founding_application").lookups() == {"centers_managed"}


def test_a_term_end_date_in_the_past_is_refused_today_and_later_accepted():
    from datetime import datetime, timedelta

    from forms import TEHRAN
    form = FormSet.read(SHIPPED).get("term_end_request")
    today = datetime.now(TEHRAN).date()
    for day in (today, today + timedelta(days=30)):
        assert form.validate({"effective_date": day.isoformat(), "reason": "بازنشستگی"})["effective_date"] == day.isoformat()
    with pytest.raises(FormError) as refused:
        form.validate({"effective_date": (today - timedelta(days=1)).isoformat(), "reason": "بازنشستگی"})
    assert refused.value.errors == {"effective_date": ["تاریخ نمی‌تواند گذشته باشد؛ امروز یا روزی پس از آن را وارد کنید."]}
    assert {"past": False, "future": True}.items() <= form.describe()["fields"][0].items()


def test_a_document_may_ask_for_the_phones_camera():
    photos = {"title": "عکس", "fields": [
        {"name": "front", "label": "عکس از روبه‌رو", "type": "document", "camera": True},
        {"name": "scan", "label": "نامه", "type": "document", "required": False}]}
    described = {f["name"]: f for f in FormSet.build(files(photos=photos)).get("photos").describe()["fields"]}
    assert described["front"]["camera"] is True and described["scan"]["camera"] is False
    photos["fields"][0]["camera"] = "yes"
    assert any("camera" in problem for problem in problems(photos=photos))


def test_a_person_field_names_someone_of_a_lanes_office_by_username():
    visit = {"title": "بازدید", "fields": [
        {"name": "expert", "label": "کارشناس", "type": "person", "lane": "county"},
        {"name": "team", "label": "گروه", "type": "section", "fields": [
            {"name": "second", "label": "کارشناس دوم", "type": "person", "lane": "county", "required": False}]}]}
    form = FormSet.build(files(visit=visit)).get("visit")
    assert form.people == {"expert": "county", "team.second": "county"}  # the caller checks who works there
    assert form.describe()["fields"][0] | {} == {"name": "expert", "path": "expert", "label": "کارشناس",
                                                 "type": "person", "required": True, "lane": "county"}
    assert form.validate({"expert": " arak_officer ", "team": {}}) == {"expert": "arak_officer", "team": {}}
    with pytest.raises(FormError) as refused:
        form.validate({"expert": "Robert'); DROP", "team": {}})
    assert refused.value.errors == {"expert": ["این شخص در فهرست کارکنان این اداره نیست؛ یکی از فهرست را برگزینید."]}
    visit["fields"][0]["lane"] = "applicant"
    assert any("lane: the people of a case's office lane" in p for p in problems(visit=visit))
    listed = {"title": "فهرست", "fields": [{"name": "rows", "label": "ردیف‌ها", "type": "list", "min_items": 0,
                                            "max_items": 3, "fields": [
                                                {"name": "who", "label": "کی", "type": "person", "lane": "county"}]}]}
    assert any("a person field may not be inside a list" in p for p in problems(listed=listed))


def test_the_shipped_visit_sheet_takes_a_distance_only_for_a_space_outside_the_mosque():
    shipped = FormSet.build(files(site_visit=json.loads((SHIPPED / "site_visit.form.json").read_text("utf-8")))
                            ).get("site_visit")
    sheet = {"area_m2": 120, "placement": "inside", "facilities": {"lighting_ventilation": True,
             "fire_extinguisher": True, "restroom": True}, "imam_present": True,
             "documents": {"space_photo": "a" * 64}, "findings": "فضا درون شبستان است."}
    assert shipped.validate({**sheet, "distance_m": 0})["placement"] == "inside"
    with pytest.raises(FormError) as refused:  # a distance typed for a space inside would fail the rule table
        shipped.validate({**sheet, "distance_m": 300})
    assert refused.value.errors == {"distance_m": ["برای فضای درون مسجد، فاصله را خالی بگذارید یا صفر بنویسید."]}
    with pytest.raises(FormError) as missing:
        shipped.validate({**sheet, "placement": "outside"})
    assert list(missing.value.errors) == ["distance_m"]
