"""`praxis demo` walks the journey through the real API and leaves a programme
whose funnel and attendance show it."""
from gateway.demo import Api, seed
from tests.waiting import eventually


def test_the_demo_seeds_a_programme_through_the_api(system, gateway_db):
    lines = []
    seeded = seed(system.base_url, "demo-school", 24, db=gateway_db, out=lines.append)
    assert seeded["admitted"] > 0 and seeded["teams"] > 0 and seeded["signed_in"] > 0
    admin = Api(system.base_url, seeded["admin_key"])
    stages = eventually(lambda: (lambda s: s if s["trained"] == seeded["signed_in"] else None)(
        admin.call("GET", f"/programs/{seeded['program_id']}/funnel")["stages"]))
    assert stages["registered"] == 24 and stages["admitted"] == seeded["admitted"]
    teams = admin.call("GET", f"/programs/{seeded['program_id']}/teams")["items"]
    assert teams and all(t["mentor_id"] and t["tutor_id"] for t in teams)
    assert any(seeded["program_id"] in line for line in lines)
    book = admin.call("GET", f"/programs/{seeded['program_id']}/gradebook")
    states = [i["state"] for row in book["rows"] for i in row["items"]]
    assert seeded["quiz_attempts"] > 0 and seeded["graded"] > 0
    assert states.count("graded") >= seeded["quiz_attempts"] + seeded["graded"]
    assert "ungraded" in states  # handed in, waiting for its grader
    # the incentives side: credits from the sign-ins, a badge, a redemption, the leaderboard
    assert seeded["badge_url"] and seeded["redemption_id"]
    rows = admin.call("GET", f"/programs/{seeded['program_id']}/leaderboard")["rows"]
    assert rows[0]["score"] >= 5
    catalogue = admin.call("GET", f"/programs/{seeded['program_id']}/catalogue")["items"]
    assert [item["sold"] for item in catalogue] == [0, 1]
