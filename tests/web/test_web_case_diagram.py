"""The case page's process diagram: the BPMN XML of the version the case runs on, scoped like the case,
the highlighted steps, and the viewer's files served from the npm package."""
from __future__ import annotations

import re
import shutil

from support import ACTORS, PIN, application_fixture, login, upload_documents, user
from web.extensions import db
from workflows.cases import complete_task, deploy, start_case


def submitted_case(app):
    case = start_case(db.session, process_key="center_founding", starter=user(ACTORS["applicant"]))
    data = application_fixture()
    data["documents"] = upload_documents(app, case)
    complete_task(db.session, case=case, task_id=case.tasks[0].task_id, actor=user(ACTORS["applicant"]), data=data,
                  pin=PIN)
    db.session.commit()
    return case


def test_the_diagram_is_the_version_the_case_runs_on(app, client, tmp_path):
    case = submitted_case(app)
    changed = tmp_path / "bpmn"
    shutil.copytree(app.config["BPMN_DIR"], changed, ignore=shutil.ignore_patterns("scenarios"))
    source = changed / "center_founding.bpmn"
    source.write_text(source.read_text("utf-8").replace('name="بررسی اداره شهرستان"', 'name="بررسی تازه شهرستان"'),
                      "utf-8")
    assert deploy(db.session, changed, "center_founding").version != case.spec_version
    db.session.commit()

    login(client, "applicant1")
    response = client.get(f"/cases/{case.id}/diagram.bpmn")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    xml = response.get_data(as_text=True)
    assert xml == (app.config["BPMN_DIR"] / "center_founding.bpmn").read_text("utf-8")
    assert "بررسی تازه شهرستان" not in xml and 'id="county_review"' in xml

    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    done = re.search(r'data-done="([^"]*)"', page).group(1).split()
    assert "submit_application" in done and "check_manager" in done and "county_review" not in done
    assert re.search(r'data-messages="([^"]*)"', page).group(1) == "inquiries_complete"
    assert f'data-src="/cases/{case.id}/diagram.bpmn"' in page
    assert "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page


def test_someone_who_cannot_see_the_case_gets_404(app, client):
    case = submitted_case(app)
    for username in ("applicant2", "isfahan_officer"):
        client.post("/logout")
        login(client, username)
        assert client.get(f"/cases/{case.id}/diagram.bpmn").status_code == 404
    client.post("/logout")
    assert client.get(f"/cases/{case.id}/diagram.bpmn").status_code == 302  # to the sign-in page
    login(client, "arak_officer")
    assert client.get(f"/cases/{case.id}/diagram.bpmn").status_code == 200


def fetch(client, url: str):
    """The response, closed (a file download keeps its file open until then)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def test_the_viewer_is_served_from_the_npm_package(client):
    script = fetch(client, "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    assert b"BpmnJS" in script.data[:2000]
    assert fetch(client, "/vendor/bpmn-js/assets/bpmn-js.css").mimetype == "text/css"
    assert fetch(client, "/vendor/bpmn-js/../package.json").status_code == 404
    assert fetch(client, "/vendor/vazirmatn/../bpmn-js/package.json").status_code == 404
    assert fetch(client, "/vendor/left-pad/index.js").status_code == 404
