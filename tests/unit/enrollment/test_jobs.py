"""Selection and application imports as jobs (in-memory repositories): the job
decides exactly as the synchronous selection does, runs once per programme at a
time, and a retried start finds the same job; an import reports every line."""
import pytest
from nameko.testing.services import worker_factory

from contracts.errors import Conflict, InvalidInput
from services.enrollment.service import EnrollmentService
from tests.unit.enrollment.fakes import FakeJobs, FakePrograms, FakeStore
from tests.unit.enrollment.test_enrollment_service import ADMIN, LMS, Clock, apply, programme


def make_service(hold=False):
    svc = worker_factory(EnrollmentService, programs=FakePrograms(), store=FakeStore(), jobs=FakeJobs(hold))
    svc._now = Clock()
    return svc


def season(service, scores):
    """The same season in a fresh programme: applications, scores, a first
    selection, a withdrawal and late applications (so the waitlist and earlier
    decisions take part)."""
    pid = programme(service, ug=3, voc=2)
    for n, score in enumerate(scores):
        apply(service, pid, f"s{n}", track="undergraduate" if n % 3 else "vocational", score=score)
    return pid


def outcome(service, pid):
    rows = service.list_applications(ADMIN, pid, {"limit": 200})["items"]
    return sorted((a["student_id"], a["status"], a["decision_reason"], a["waitlist_position"]) for a in rows)


def comparable(decisions):
    return [(d["student_id"], d["track"], d["decision"], d["reason"], d["position"], d["promoted"]) for d in decisions]


SCORES = [91, 55, 78, 78, 60, 99, 42, 85, 70, 66, 88, 73, 59.5, 95, 81]


def test_the_selection_job_decides_exactly_as_the_synchronous_selection():
    sync, job = make_service(), make_service()
    sync_pid, job_pid = season(sync, SCORES), season(job, SCORES)
    first_sync = sync.run_selection(ADMIN, sync_pid, {})
    started = job.start_selection(ADMIN, job_pid, {})
    first_job = job.get_job(ADMIN, started["id"])
    assert first_job["state"] == "succeeded"
    assert comparable(first_job["result"]["decisions"]) == comparable(first_sync["decisions"])
    assert first_job["result"]["pending"] == [] and first_job["result"]["unchanged"] == first_sync["unchanged"]

    # a second round: an admitted student withdraws, late applicants arrive
    for svc, pid in ((sync, sync_pid), (job, job_pid)):
        admitted = svc.list_applications(ADMIN, pid, {"status": "admitted", "limit": 200})["items"][0]
        svc.withdraw(LMS, admitted["id"], {"reason": "found an internship"})
        for n, score in enumerate((97, 61, 30)):
            apply(svc, pid, f"late{n}", score=score)
    second_sync = sync.run_selection(ADMIN, sync_pid, {})
    second_job = job.get_job(ADMIN, job.start_selection(ADMIN, job_pid, {})["id"])
    assert comparable(second_job["result"]["decisions"]) == comparable(second_sync["decisions"])
    assert outcome(job, job_pid) == outcome(sync, sync_pid)


def test_a_selection_job_reports_progress_and_its_decisions_carry_their_events():
    service = make_service()
    pid = season(service, SCORES)
    job = service.get_job(ADMIN, service.start_selection(ADMIN, pid, {})["id"])
    decided = len(job["result"]["decisions"])
    assert job["progress"] == {"tracks": 2, "tracks_done": 2, "decisions": decided}
    decided_events = [e for e in service.store.events() if e["type"].startswith("student.")]
    assert len(decided_events) == decided


def test_one_selection_runs_at_a_time_per_programme_and_a_retry_finds_the_same_job():
    service = make_service(hold=True)
    pid = season(service, SCORES[:4])
    first = service.start_selection({**ADMIN, "operation_id": "key-1"}, pid, {})
    assert first["state"] == "queued" and first["id"] == "enrollment-key-1"
    assert service.start_selection({**ADMIN, "operation_id": "key-1"}, pid, {})["id"] == first["id"]
    with pytest.raises(Conflict) as refused:
        service.start_selection({**ADMIN, "operation_id": "key-2"}, pid, {})
    assert refused.value.errors == {"job_id": [first["id"]]}
    other = season(service, SCORES[:4])
    assert service.start_selection({**ADMIN, "operation_id": "key-3"}, other, {})["state"] == "queued"


def test_a_job_of_another_school_is_not_found():
    service = make_service()
    pid = season(service, SCORES[:3])
    job = service.start_selection(ADMIN, pid, {})
    from contracts.errors import NotFound
    with pytest.raises(NotFound):
        service.get_job({**ADMIN, "school_id": "other"}, job["id"])


CSV = ("student_id,name,track,major,year_of_study,prior_courses,motivation\n"
       "a1,Ann,undergraduate,E-commerce,3,Marketing;Logistics,sell\n"
       "a2,Bo,undergraduate,,two,,\n"
       "a3,Cy,phd,,,,\n"
       "a4,Di,vocational,,,,\n")


def test_an_import_reports_each_line_and_the_same_file_again_changes_nothing():
    service = make_service()
    pid = programme(service)
    job = service.get_job(ADMIN, service.start_import(ADMIN, pid, {"format": "csv", "content": CSV})["id"])
    assert job["state"] == "succeeded"
    assert job["result"] == {"total": 4, "imported": 2, "unchanged": 0, "duplicates": 0, "rejected": 2}
    by_line = {r["line"]: r for r in job["report"]}
    assert [by_line[n]["outcome"] for n in (2, 3, 4, 5)] == ["imported", "rejected", "rejected", "imported"]
    assert "year_of_study" in by_line[3]["reason"] and "track" in by_line[4]["reason"]
    stored = service.list_applications(ADMIN, pid, {"limit": 200})["items"]
    assert sorted(a["student_id"] for a in stored) == ["a1", "a4"]

    again = service.get_job(ADMIN, service.start_import(ADMIN, pid, {"format": "csv", "content": CSV})["id"])
    assert again["result"] == {"total": 4, "imported": 0, "unchanged": 2, "duplicates": 0, "rejected": 2}
    assert len(service.list_applications(ADMIN, pid, {"limit": 200})["items"]) == 2


def test_json_lines_import_and_a_student_who_applied_already_is_a_duplicate():
    service = make_service()
    pid = programme(service)
    apply(service, pid, "b1")
    content = ('{"student_id": "b1", "name": "Bea", "track": "undergraduate"}\n'
               'not json\n'
               '{"student_id": "b2", "name": "Ben", "track": "undergraduate", "year_of_study": 2.5}\n'
               '{"student_id": "b3", "name": "Bob", "track": "vocational"}\n')
    job = service.get_job(ADMIN, service.start_import(ADMIN, pid, {"format": "jsonl", "content": content})["id"])
    assert [(r["line"], r["outcome"]) for r in job["report"]] == [
        (1, "duplicate"), (2, "rejected"), (3, "rejected"), (4, "imported")]


def test_a_csv_without_its_header_fails_the_job_with_the_reason():
    service = make_service()
    pid = programme(service)
    job = service.get_job(ADMIN, service.start_import(ADMIN, pid, {"format": "csv", "content": "a1,Ann\n"})["id"])
    assert job["state"] == "failed" and "header" in job["error"]
    with pytest.raises(InvalidInput):
        service.start_import(ADMIN, pid, {"format": "xml", "content": "<a/>"})


def test_two_lines_of_one_student_in_a_file_make_one_application():
    service = make_service()
    pid = programme(service)
    content = ('{"student_id": "d1", "name": "Dee", "track": "undergraduate"}\n'
               '{"student_id": "d1", "name": "Dee", "track": "vocational"}\n')
    job = service.get_job(ADMIN, service.start_import(ADMIN, pid, {"format": "jsonl", "content": content})["id"])
    assert [(r["line"], r["outcome"]) for r in job["report"]] == [(1, "imported"), (2, "duplicate")]
    assert "live application" in job["report"][1]["reason"]
