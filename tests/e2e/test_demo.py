"""`praxis demo` walks the journey through the real API and leaves a programme
whose funnel and attendance show it."""
from gateway.demo import Api, seed
from tests.waiting import eventually


def test_the_demo_seeds_a_programme_through_the_api(system, gateway_db):
    lines = []
    seeded = seed(system.base_url, "demo-school", 24, db=gateway_db, out=lines.append)
    assert seeded["admitted"] > 0 and seeded["teams"] > 0 and seeded["signed_in"] > 0
    admin = Api(system.base_url, seeded["admin_key"])
    seen = []

    def settled():
        seen.append(admin.call("GET", f"/programs/{seeded['program_id']}/funnel")["stages"])
        return (seen[-1]["trained"], seen[-1]["admitted"]) == (seeded["signed_in"], seeded["admitted"])
    try:
        eventually(settled, timeout=60)
    finally:
        print("funnel seen last:", seen[-1:], "seeded:", seeded)
    stages = seen[-1]
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

    assert seeded["idle"]
    idle = admin.call("GET", f"/programs/{seeded['program_id']}/idle-accounts")["items"]
    assert sorted(i["student_id"] for i in idle) == sorted(seeded["idle"])
    alerts = admin.call("GET", f"/programs/{seeded['program_id']}/alerts", params={"status": "open"})["items"]
    assert sorted(a["kind"] for a in alerts) == ["account_reclaim", "student_idle", "student_idle"]
    assert any("/dashboard/programs/" in line for line in lines)
