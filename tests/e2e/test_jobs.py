"""Jobs over HTTP: applications imported from a posted file (a bad line reported
with its number and reason, the same file again changes nothing) and selection
as a job (202 at once, the same Idempotency-Key answers the same job)."""
import pytest

from tests.e2e.enrollment_helpers import applications, apply, create_programme, finished, score

CSV = ("student_id,name,track,major,year_of_study,prior_courses,motivation\n"
       "i1,Ann,undergraduate,E-commerce,3,Marketing;Logistics,sell abroad\n"
       "i2,Bo,undergraduate,,two,,\n"
       "i3,Cy,vocational,,,,\n")


@pytest.fixture(scope="module")
def admin(client_for):
    return client_for("jobs-school", "admin")


@pytest.fixture(scope="module")
def lms(client_for):
    return client_for("jobs-school", "lms")


def post_file(client, program_id, body, content_type="text/csv", **headers):
    return client.post(f"/api/v1/programs/{program_id}/applications/imports", data=body.encode(),
                       headers={"Content-Type": content_type, **headers})


def test_an_imported_file_reports_each_line_and_posting_it_again_changes_nothing(admin, lms):
    program_id = create_programme(admin)
    started = post_file(lms, program_id, CSV)
    assert started.status_code == 202, started.text
    assert started.headers["Location"].endswith(f"/api/v1/jobs/{started.json()['id']}")
    job = finished(lms, started.json()["id"])
    assert job["state"] == "succeeded" and job["kind"] == "application_import"
    assert job["progress"]["done"] == 3
    assert job["result"] == {"total": 3, "imported": 2, "unchanged": 0, "duplicates": 0, "rejected": 1}
    [bad] = [line for line in job["report"] if line["outcome"] == "rejected"]
    assert bad["line"] == 3 and "year_of_study" in bad["reason"]
    before = sorted((a["student_id"], a["id"]) for a in applications(admin, program_id))
    assert [s for s, _ in before] == ["i1", "i3"]

    again = finished(lms, post_file(lms, program_id, CSV).json()["id"])
    assert again["result"] == {"total": 3, "imported": 0, "unchanged": 2, "duplicates": 0, "rejected": 1}
    assert sorted((a["student_id"], a["id"]) for a in applications(admin, program_id)) == before


def test_json_lines_are_imported_too_and_a_wrong_content_type_is_refused(admin, lms):
    program_id = create_programme(admin)
    body = '{"student_id": "j1", "name": "Jo", "track": "undergraduate"}\n{"student_id": 5}\n'
    job = finished(lms, post_file(lms, program_id, body, "application/x-ndjson").json()["id"])
    assert [(r["line"], r["outcome"]) for r in job["report"]] == [(1, "imported"), (2, "rejected")]
    refused = post_file(lms, program_id, "<xml/>", "application/xml")
    assert refused.status_code == 422 and refused.headers["Content-Type"] == "application/problem+json"


def test_selection_is_a_job_and_a_retry_with_the_same_key_answers_the_same_job(admin, lms):
    program_id = create_programme(admin, capacity_ug=1)
    for student, value in (("w1", 90), ("w2", 80)):
        score(admin, apply(lms, program_id, student)["id"], value)
    url = f"/api/v1/programs/{program_id}/selection"
    first = admin.post(url, json={}, headers={"Idempotency-Key": f"select-{program_id}"})
    assert first.status_code == 202, first.text
    retry = admin.post(url, json={}, headers={"Idempotency-Key": f"select-{program_id}"})
    assert retry.status_code == 202 and retry.json()["id"] == first.json()["id"]
    job = finished(admin, first.json()["id"])
    assert job["kind"] == "selection" and job["state"] == "succeeded"
    assert {d["student_id"]: d["decision"] for d in job["result"]["decisions"]} == {
        "w1": "admitted", "w2": "waitlisted"}


def test_another_schools_job_is_not_found(admin, lms, client_for):
    program_id = create_programme(admin)
    job = post_file(lms, program_id, CSV).json()
    assert client_for("jobs-other-school", "admin").get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert admin.get("/api/v1/jobs/nowhere-123").status_code == 404
