"""Incentives end to end, through the gateway against every service: a programme
with admitted students (enrollment's real events), credits, 50 concurrent
redemptions of an item with stock 10, an appeal, an enterprise reward for a team
whose mentor's partner adopted its idea, and a badge served as an Open Badges 2.0
assertion and an Open Badges 3.0 credential whose signature an independent JOSE
library verifies with the key the gateway publishes."""
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from tests.e2e.enrollment_helpers import apply, create_programme, score, select
from tests.waiting import eventually

SCHOOL = "incentives-school"
STUDENTS = [f"in{n:02d}" for n in range(25)]


@pytest.fixture(scope="module")
def admin(client_for):
    return client_for(SCHOOL, "admin")


@pytest.fixture(scope="module")
def lms(client_for):
    return client_for(SCHOOL, "lms")


@pytest.fixture(scope="module")
def programme(admin, lms):
    """25 admitted students, a team of three with a mentor of partner acme."""
    pid = create_programme(admin, capacity_ug=30)
    for student in STUDENTS:
        score(admin, apply(lms.acting(f"student:{student}"), pid, student)["id"], 80)
    select(admin, pid)
    team = admin.post(f"/api/v1/programs/{pid}/teams", json={
        "name": "Alpha", "track": "undergraduate", "members": STUDENTS[:3]})
    assert team.status_code == 201, team.text
    admin.post(f"/api/v1/programs/{pid}/mentors", json={"name": "M", "partner_id": "acme", "max_load": 3})
    admin.post(f"/api/v1/programs/{pid}/tutors", json={"name": "T", "max_load": 3})
    assert admin.post(f"/api/v1/programs/{pid}/assignments", json={}).status_code == 200

    def admitted_everywhere():  # incentives heard every student.admitted
        return all(lms.get(f"/api/v1/students/{s}/credits", headers={"X-Acting-User": f"student:{s}"},
                           params={"program_id": pid}).status_code == 200 for s in STUDENTS[-3:])
    eventually(admitted_everywhere, timeout=60)
    return {"id": pid, "team_id": team.json()["id"]}


def credits(client, student, pid, who=None):
    response = client.get(f"/api/v1/students/{student}/credits", params={"program_id": pid},
                          headers={"X-Acting-User": who or f"student:{student}"})
    assert response.status_code == 200, response.text
    return response.json()


def give(admin, pid, student, amount, reason="e2e"):
    response = admin.post("/api/v1/credits/adjustments", json={
        "program_id": pid, "student_id": student, "amount": amount, "reason": reason},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()


def reconcile(system):
    env = {**system.env, "PRAXIS_JSON_LOGS": "0"}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "incentives", "reconcile"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=os.getcwd())


def test_fifty_concurrent_redemptions_of_stock_ten_sell_exactly_ten(system, admin, lms, programme):
    pid = programme["id"]
    for student in STUDENTS:
        give(admin, pid, student, 30)
    item = admin.post(f"/api/v1/programs/{pid}/catalogue", json={
        "name": "1 academic credit hour", "price": 20, "stock": 10, "per_student_limit": 1})
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]

    def redeem(student):
        return lms.post("/api/v1/redemptions", json={"item_id": item_id, "student_id": student},
                        headers={"X-Acting-User": f"student:{student}", "Idempotency-Key": uuid.uuid4().hex})

    attempts = [s for s in STUDENTS for _ in range(2)]  # 50: every student tries twice at once
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(redeem, attempts))
    assert all(r.status_code in (201, 409, 422) for r in responses), [r.text for r in responses if r.status_code >= 500]
    made = [r.json() for r in responses if r.status_code == 201]
    assert len(made) == 10
    buyers = [r["student_id"] for r in made]
    assert len(set(buyers)) == 10, "nobody is charged twice"
    stock = {i["id"]: i for i in admin.get(f"/api/v1/programs/{pid}/catalogue").json()["items"]}[item_id]
    assert (stock["stock"], stock["sold"]) == (0, 10)
    for student in STUDENTS:
        balance = credits(lms, student, pid)["balances"][0]
        assert balance["spendable"] == (10 if student in buyers else 30)
        assert balance["lifetime"] == 30

    # staff cancel one: refund and the unit back
    cancelled = admin.post(f"/api/v1/redemptions/{made[0]['id']}/cancellation", json={"reason": "changed mind"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert credits(lms, made[0]["student_id"], pid)["balances"][0]["spendable"] == 30
    stock = {i["id"]: i for i in admin.get(f"/api/v1/programs/{pid}/catalogue").json()["items"]}[item_id]
    assert (stock["stock"], stock["sold"]) == (1, 9)
    again = admin.post(f"/api/v1/redemptions/{made[0]['id']}/cancellation", json={"reason": "again"})
    assert again.status_code == 409
    assert credits(lms, made[0]["student_id"], pid)["balances"][0]["spendable"] == 30

    result = reconcile(system)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 difference(s)" in result.stderr


def test_a_student_appeals_a_penalty_once_and_staff_accept_it(admin, lms, programme):
    pid, student = programme["id"], STUDENTS[5]
    before = credits(lms, student, pid)["balances"][0]["spendable"]
    penalty = give(admin, pid, student, -4, "late submission")
    assert credits(lms, student, pid)["balances"][0]["spendable"] == before - 4

    other = lms.post(f"/api/v1/credits/entries/{penalty['id']}/appeal", json={"reason": "not mine"},
                     headers={"X-Acting-User": f"student:{STUDENTS[6]}"})
    assert other.status_code == 404
    appeal = lms.post(f"/api/v1/credits/entries/{penalty['id']}/appeal", json={"reason": "I submitted on time"},
                      headers={"X-Acting-User": f"student:{student}"})
    assert appeal.status_code == 201, appeal.text
    twice = lms.post(f"/api/v1/credits/entries/{penalty['id']}/appeal", json={"reason": "again"},
                     headers={"X-Acting-User": f"student:{student}"})
    assert twice.status_code == 409
    by_student = lms.post(f"/api/v1/appeals/{appeal.json()['id']}/decision", json={"decision": "accept"},
                          headers={"X-Acting-User": f"student:{student}"})
    assert by_student.status_code == 403

    decided = admin.post(f"/api/v1/appeals/{appeal.json()['id']}/decision",
                         json={"decision": "accept", "reason": "the upload log shows it on time"})
    assert decided.status_code == 200 and decided.json()["status"] == "accepted"
    ledger = credits(lms, student, pid)
    assert ledger["balances"][0]["spendable"] == before
    reversal = [e for e in ledger["entries"] if e["kind"] == "reversal"]
    assert reversal and reversal[0]["reverses"] == penalty["id"]
    # another student's ledger stays closed; another school sees nothing
    assert lms.get(f"/api/v1/students/{STUDENTS[6]}/credits",
                   headers={"X-Acting-User": f"student:{student}"}).status_code == 403


def test_another_school_sees_nothing(client_for, programme):
    stranger = client_for("another-school", "admin")
    assert stranger.get(f"/api/v1/students/{STUDENTS[0]}/credits").status_code == 404
    assert stranger.get(f"/api/v1/programs/{programme['id']}/leaderboard").status_code == 404


def test_a_partner_rewards_a_team_of_its_programme_split_by_largest_remainder(client_for, lms, programme):
    pid, team = programme["id"], programme["team_id"]
    before = {s: credits(lms, s, pid)["balances"][0]["lifetime"] for s in STUDENTS[:3]}
    stranger = client_for(SCHOOL, "partner", partner="not-a-partner")
    assert stranger.post(f"/api/v1/teams/{team}/enterprise-rewards",
                         json={"amount": 10, "innovation": "x"}).status_code == 404
    acme = client_for(SCHOOL, "partner", partner="acme")
    reward = eventually(lambda: (lambda r: r if r.status_code == 201 else None)(acme.post(
        f"/api/v1/teams/{team}/enterprise-rewards",
        json={"amount": 10, "money": "1500.00", "currency": "CNY", "innovation": "bundle pricing on X-Mall"},
        headers={"Idempotency-Key": f"reward-{team}"})), timeout=30)
    allocation = reward.json()["allocation"]
    assert sorted(allocation.values()) == [3, 3, 4] and sum(allocation.values()) == 10
    assert allocation[min(allocation)] == 4, "the remainder goes to the first id"
    for student in STUDENTS[:3]:
        assert credits(lms, student, pid)["balances"][0]["lifetime"] == before[student] + allocation[student]
    # partners only grant rewards: they read no ledger
    assert acme.get(f"/api/v1/students/{STUDENTS[0]}/credits").status_code == 403


def test_a_badge_is_served_as_open_badges_2_and_as_a_signed_open_badges_3_credential(
        system, admin, lms, anonymous, programme):
    pid, student = programme["id"], STUDENTS[20]
    badge = admin.post(f"/api/v1/programs/{pid}/badges", json={
        "key": "first-fifty", "name": "Fifty credits", "description": "Earned 50 credits in the Platinum Cup",
        "criteria": "Earn at least 50 lifetime credits", "condition": {"kind": "lifetime_at_least", "at_least": 50}})
    assert badge.status_code == 201, badge.text
    give(admin, pid, student, 50, "demo day winner")
    awards = lms.get(f"/api/v1/students/{student}/badges", headers={"X-Acting-User": f"student:{student}"}).json()["items"]
    assert [a["badge_key"] for a in awards] == ["first-fifty"]
    base = system.base_url

    def fetch(url):  # the documents name their own URLs on this gateway
        assert url.startswith(base), url
        response = anonymous.get(url[len(base):])
        assert response.status_code == 200, (url, response.text)
        return response

    assertion = fetch(awards[0]["assertion_url"]).json()
    for field in ("@context", "type", "id", "recipient", "badge", "verification", "issuedOn"):
        assert field in assertion, field
    assert assertion["type"] == "Assertion" and assertion["verification"]["type"] == "hosted"
    assert assertion["recipient"]["hashed"] is True and student not in json.dumps(assertion["recipient"])
    badge_class = fetch(assertion["badge"]).json()
    for field in ("@context", "type", "id", "name", "description", "image", "criteria", "issuer"):
        assert field in badge_class, field
    issuer = fetch(badge_class["issuer"]).json()
    assert issuer["type"] == "Issuer" and {"id", "name", "url"} <= set(issuer)
    assert fetch(badge_class["image"]).headers["Content-Type"].startswith("image/svg+xml")

    token = fetch(awards[0]["credential_url"]).text
    keys = KeySet.import_key_set(fetch(f"{base}/badges/issuers/{SCHOOL}/jwks.json").json())
    verified = jws.deserialize_compact(token, keys, algorithms=["RS256"])  # raises if the signature is bad
    claims = json.loads(verified.payload)
    assert verified.protected["kid"] == keys.keys[0].kid and verified.protected["alg"] == "RS256"
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert "https://purl.imsglobal.org/spec/ob/v3p0/context" in claims["@context"][1]
    for field in ("id", "issuer", "validFrom", "credentialSubject", "iss", "jti", "nbf"):
        assert field in claims, field
    assert claims["iss"] == claims["issuer"]["id"] and claims["jti"] == claims["id"]
    subject = claims["credentialSubject"]
    assert "AchievementSubject" in subject["type"]
    assert {"id", "type", "name", "criteria"} <= set(subject["achievement"])
    assert anonymous.get("/badges/assertions/no-such-assertion").status_code == 404
    tampered = token.rsplit(".", 1)[0] + "." + token.rsplit(".", 1)[1][::-1]
    with pytest.raises(Exception):
        jws.deserialize_compact(tampered, keys, algorithms=["RS256"])
