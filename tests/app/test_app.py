"""The app through HTTP: roles, caseloads, purposes, audit rows, and disclosure on every
aggregate page and export."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import sign_in
from totalplace.report.check import check_html, check_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def client(app):
    return TestClient(app)


def views(app_place, person_id: str) -> int:
    from totalplace.app import Accounts

    return sum(
        1
        for r in Accounts.for_place(app_place).audit_log(10_000)
        if r["person_id"] == person_id and r["outcome"] == "viewed"
    )


def test_pages_need_a_signed_in_user(client):
    r = client.get("/section/glance", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = sign_in(client, "ana")
    assert r.status_code == 200 and "Overview" in r.text


def test_wrong_password_is_refused(client):
    r = client.get("/login")
    import re

    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": "ana", "password": "nope", "csrf": token})
    assert r.status_code == 401 and "do not match" in r.text


def test_analyst_sees_aggregates_not_people(client, caseload, app_place):
    sign_in(client, "ana")
    assert client.get("/section/glance").status_code == 200
    assert client.get(f"/person/{caseload[0]}").status_code == 403
    assert client.get("/admin/users").status_code == 403
    assert views(app_place, caseload[0]) == 0


def test_practitioner_sees_only_their_caseload_and_each_view_is_audited(
    client, caseload, app_place
):
    sign_in(client, "pat")
    assert client.get("/section/glance").status_code == 403
    assert client.get(f"/person/{caseload[2]}?purpose=Safeguarding").status_code == 403
    r = client.get(f"/person/{caseload[0]}")  # no purpose yet: asked for one, nothing shown
    assert r.status_code == 200 and "Why do you need" in r.text
    before = views(app_place, caseload[0])
    r = client.get(f"/person/{caseload[0]}", params={"purpose": "Safeguarding"})
    assert r.status_code == 200 and "Records held by each agency" in r.text
    assert r.headers["cache-control"].startswith("no-store")
    assert views(app_place, caseload[0]) == before + 1


def test_admin_manages_users_and_reads_the_audit(client):
    sign_in(client, "adm")
    r = client.get("/admin/audit")
    assert r.status_code == 200 and "view person" in r.text
    import re

    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/users").text).group(1)
    r = client.post(
        "/admin/users",
        data={"username": "newbie", "password": "short", "role": "analyst", "csrf": token},
    )
    assert r.status_code == 400 and "at least 10" in r.text
    r = client.post("/admin/users", data={"username": "x", "password": "p" * 12, "role": "admin"})
    assert r.status_code == 403  # no CSRF token


def _scan_app(client) -> list[str]:
    from openpyxl import load_workbook

    problems = []
    from totalplace.report.sections import PARTS

    for p in PARTS:
        problems += [
            f"/section/{p.key}: {x}" for x in check_html(client.get(f"/section/{p.key}").text)
        ]
    r = client.get("/exports")
    import re

    for key, i in re.findall(r'href="/exports/(\w+)/(\d+)\.csv"', r.text):
        wb = load_workbook(io.BytesIO(client.get(f"/exports/{key}/{i}.xlsx").content))
        rows = [list(r) for r in wb.active.iter_rows(values_only=True) if any(r)]
        problems += [f"{key}/{i}.xlsx: {x}" for x in check_rows(rows[0], rows[1:-1])]
        import csv

        text = client.get(f"/exports/{key}/{i}.csv").content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        problems += [f"{key}/{i}.csv: {x}" for x in check_rows(rows[0], rows[1:])]
    return problems


def test_every_aggregate_page_and_export_passes_disclosure(client):
    sign_in(client, "ana")
    assert _scan_app(client) == []


def test_the_same_scan_fails_with_disclosure_off(app_place):
    from totalplace.app import create_app
    from totalplace.disclosure import Disclosure

    # A second app on the same place: each opens the store read-only per request.
    c = TestClient(create_app(app_place, disclosure=Disclosure.off()))
    sign_in(c, "ana")
    assert any("a count of" in p for p in _scan_app(c))


def test_cohort_explorer_is_disclosure_controlled(client):
    from totalplace.app import cohorts

    sign_in(client, "ana")
    r = client.get("/cohorts")
    assert r.status_code == 200
    if not cohorts.available():
        assert "needs the people stage" in r.text
        return
    r = client.get("/cohorts", params={"show": 1, "age_min": 65})
    assert r.status_code == 200 and "people meet this definition" in r.text
    assert "Comparison group" in r.text
    assert check_html(r.text) == []
    r = client.get("/cohorts", params={"show": 1, "age_min": 119})
    assert "No one meets this definition" in r.text or "too few" in r.text


def test_pages_load_the_small_plotly_bundle_when_it_draws_their_charts(client):
    from totalplace.report.render import report_bundle

    sign_in(client, "ana")
    r = client.get("/section/glance")
    assert r.status_code == 200 and 'src="/static/plotly-report.js"' in r.text
    js = client.get("/static/plotly-report.js")
    assert js.status_code == 200 and js.text == report_bundle()
    assert "max-age" in js.headers["cache-control"]
