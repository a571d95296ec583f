"""Capacity under concurrent HTTP requests: selection runs, withdrawals and the
promotions they cause race through the gateway; the counts come out exact."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.enrollment_helpers import application, applications, apply, create_programme, finished, score, select

SCHOOL = "race-school"
CAPACITY = 5


@pytest.fixture(scope="module")
def admin(client_for):
    return client_for(SCHOOL, "admin")


@pytest.fixture(scope="module")
def lms(client_for):
    return client_for(SCHOOL, "lms", acting="staff:registrar")


def run_all(calls, workers=16):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [f.result() for f in [pool.submit(fn) for fn in calls]]


def by_status(admin, program_id):
    found = {}
    for app in applications(admin, program_id):
        found.setdefault(app["status"], []).append(app)
    return found


def test_capacity_is_never_exceeded_under_concurrent_selection_withdrawals_and_promotions(admin, lms):
    program_id = create_programme(admin, capacity_ug=CAPACITY)
    apps = [apply(lms, program_id, f"r{i:02d}") for i in range(20)]
    for i, app in enumerate(apps):
        score(admin, app["id"], 99 - i)  # r00 best ... r19 worst, all above the minimum

    # eight selection runs at once: one job runs, the others are told it runs (409)
    answers = run_all([lambda: admin.post(f"/api/v1/programs/{program_id}/selection", json={})] * 8)
    assert {a.status_code for a in answers} <= {202, 409} and 202 in {a.status_code for a in answers}
    for answer in answers:
        assert finished(admin, answer.json()["id"] if answer.status_code == 202
                        else answer.json()["errors"]["job_id"][0])["state"] == "succeeded"
    decided = by_status(admin, program_id)
    assert len(decided["admitted"]) == CAPACITY and len(decided["waitlisted"]) == 20 - CAPACITY
    assert sorted(a["student_id"] for a in decided["admitted"]) == [f"r{i:02d}" for i in range(CAPACITY)]

    # four admitted and three waitlisted students withdraw while selection runs again
    leaving = apps[0:4] + apps[10:13]
    calls = [lambda a=a: lms.post(f"/api/v1/applications/{a['id']}/withdrawal", json={}) for a in leaving]
    calls += [lambda: admin.post(f"/api/v1/programs/{program_id}/selection", json={})] * 4
    answers = run_all(calls)
    assert {a.status_code for a in answers} <= {200, 202, 409}, [a.text for a in answers if a.status_code >= 400]
    assert all(a.status_code == 200 for a in answers[:len(leaving)])
    for answer in answers[len(leaving):]:
        job_id = answer.json()["id"] if answer.status_code == 202 else answer.json()["errors"]["job_id"][0]
        assert finished(admin, job_id)["state"] == "succeeded"

    final = by_status(admin, program_id)
    assert len(final["admitted"]) == CAPACITY
    assert len(final["withdrawn"]) == 7
    assert len(final["waitlisted"]) == 15 - 3 - 4  # 15 were waiting: 3 withdrew, 4 were promoted
    # the places went to the best remaining students, each promotion said so once
    assert sorted(a["student_id"] for a in final["admitted"]) == ["r04", "r05", "r06", "r07", "r08"]
    assert sorted(a["student_id"] for a in final["admitted"] if a["promoted"]) == ["r05", "r06", "r07", "r08"]
    roster = admin.get(f"/api/v1/programs/{program_id}/roster").json()["rows"]
    assert sum(1 for r in roster if r["status"] == "admitted") == CAPACITY


def test_one_student_applying_many_times_at_once_gets_one_application(admin, lms):
    program_id = create_programme(admin)
    answers = run_all([lambda: lms.post(f"/api/v1/programs/{program_id}/applications",
                                        json=application("eager"))] * 10)
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9
    assert len(applications(admin, program_id)) == 1


def test_many_students_joining_one_team_at_once_never_overfill_it(admin, lms):
    program_id = create_programme(admin, capacity_ug=8)
    for i in range(8):
        score(admin, apply(lms, program_id, f"j{i}")["id"], 90 - i)
    select(admin, program_id)
    team = lms.post(f"/api/v1/programs/{program_id}/teams",
                    json={"name": "Crowded", "track": "undergraduate", "members": ["j0", "j1"]}).json()
    answers = run_all([lambda s=s: lms.post(f"/api/v1/teams/{team['id']}/members", json={"student_id": s})
                       for s in [f"j{i}" for i in range(2, 8)]])
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5
    members = lms.get(f"/api/v1/teams/{team['id']}").json()["members"]
    assert len(members) == 3
    # the students who did not get in are free to form another team
    others = [f"j{i}" for i in range(2, 8) if f"j{i}" not in members][:3]
    second = lms.post(f"/api/v1/programs/{program_id}/teams",
                      json={"name": "Second", "track": "undergraduate", "members": others})
    assert second.status_code == 201, second.text
