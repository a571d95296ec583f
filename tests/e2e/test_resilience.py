"""Services that crash (SIGKILL) and restart catch up: nothing is lost."""
from tests.waiting import eventually
from tests.e2e.programs_payloads import platinum_cup


def funnel_visible(admin, program_id):
    return admin.get(f"/api/v1/programs/{program_id}/funnel").status_code == 200


def test_programmes_created_while_supervision_is_down_reach_it_when_it_restarts(system, client_for):
    admin = client_for("resilience", "admin")
    system.kill_service("supervision")
    try:
        ids = [admin.post("/api/v1/programs", json=platinum_cup(f"Crash cup {i}")).json()["id"]
               for i in range(5)]
    finally:
        system.start_service_again("supervision")
    eventually(lambda: all(funnel_visible(admin, i) for i in ids), timeout=30)


def test_a_programme_whose_service_crashed_right_after_the_answer_still_reaches_supervision(system, client_for):
    admin = client_for("resilience", "admin")
    created = admin.post("/api/v1/programs", json=platinum_cup("Killed right after"))
    assert created.status_code == 201
    system.kill_service("enrollment")  # the relay may or may not have published yet
    system.start_service_again("enrollment")
    program_id = created.json()["id"]
    assert admin.get(f"/api/v1/programs/{program_id}").status_code == 200
    eventually(lambda: funnel_visible(admin, program_id), timeout=30)
