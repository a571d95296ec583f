"""The funnel staff see follows what students do in the other services."""
from tests.e2e.enrollment_helpers import apply, create_programme, score, select
from tests.waiting import eventually


def test_the_funnel_counts_registered_and_admitted_students(client_for):
    admin, lms = client_for("funnel-school", "admin"), client_for("funnel-school", "lms", acting="staff:registrar")
    program_id = create_programme(admin, capacity_ug=2)
    for student, quiz in (("f1", 90), ("f2", 80), ("f3", 70)):
        score(admin, apply(lms, program_id, student)["id"], quiz)
    select(admin, program_id)

    def stages():
        response = admin.get(f"/api/v1/programs/{program_id}/funnel")
        return response.json()["stages"] if response.status_code == 200 else None

    reached = eventually(lambda: (lambda s: s if s and s["admitted"] == 2 else None)(stages()))
    assert reached["registered"] == 3
    assert reached["trained"] == 0
