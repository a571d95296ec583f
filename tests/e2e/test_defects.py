"""Defects an audit found that must not come back (issue 7, point 4), each against the
running system: authentication shortcuts, 500s from ordinary input, chunked bodies over
the limit, slow revocation, Idempotency-Key ignored, 200 [] for a missing programme,
control characters and truncated numbers, missing security headers."""
import json
import time
import uuid

import pytest

from contracts.examples import platinum_cup
from gateway.auth import create_key, revoke_key
from tests.e2e.conftest import Client

API = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def school(client_for):
    name = f"defects-{uuid.uuid4().hex[:6]}"
    admin = client_for(name, "admin")
    program = admin.post(f"{API}/programs", json=platinum_cup()).json()
    return {"name": name, "admin": admin, "partner": client_for(name, "partner", "xmall"),
            "program_id": program["id"]}


def programme_count(admin):
    return len(admin.get(f"{API}/programs", params={"limit": 100}).json()["items"])


def test_a_path_ending_in_openapi_json_is_no_way_around_authentication(anonymous):
    for path in (f"{API}/programs/openapi.json", f"{API}/sessions/openapi.json"):
        response = anonymous.get(path)
        assert response.status_code == 401 and response.headers["Content-Type"] == PROBLEM
    assert anonymous.get(f"{API}/openapi.json").status_code == 200


def test_a_malformed_key_is_refused_as_unauthorized(system):
    for token in ("prx_" + "a" * 4000 + "_secret", "prx_zz_yy", "prx__", "Bearer"):
        response = Client(system.base_url, token).get(f"{API}/programs")
        assert response.status_code == 401 and response.headers["Content-Type"] == PROBLEM


@pytest.mark.parametrize("params", [{"offset": 2 ** 63}, {"offset": 10 ** 30}, {"offset": -1}, {"limit": 2.9}])
def test_list_pages_out_of_range_are_422_not_500(school, params):
    for path in ("/programs", f"/programs/{school['program_id']}/applications",
                 f"/programs/{school['program_id']}/sessions", f"/programs/{school['program_id']}/teams",
                 "/materials"):
        response = school["admin"].get(f"{API}{path}", params=params)
        assert response.status_code == 422, (path, response.status_code, response.text[:200])


def test_a_lone_surrogate_a_control_character_or_deep_nesting_in_a_body_is_a_4xx(school):
    admin, before = school["admin"], programme_count(school["admin"])
    headers = {"Content-Type": "application/json"}
    body = json.dumps(platinum_cup())
    for bad_name, status in (('"Cup \\ud800"', 422), ('"Cup\\u0000"', 422), ('"Cup\\u001b[31m"', 422)):
        raw = body.replace(json.dumps(platinum_cup()["name"]), bad_name)
        response = admin.post(f"{API}/programs", data=raw.encode(), headers=headers)
        assert response.status_code == status and "name" in response.json()["errors"], response.text[:300]
    deep = admin.post(f"{API}/programs", data=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    assert deep.status_code == 400 and deep.headers["Content-Type"] == PROBLEM
    nested = admin.post(f"{API}/programs", data=b'{"a":' * 200 + b"1" + b"}" * 200, headers=headers)
    assert nested.status_code == 400
    control_id = admin.get(f"{API}/programs/abc%00def")
    assert control_id.status_code == 400 and control_id.headers["Content-Type"] == PROBLEM
    assert programme_count(admin) == before


@pytest.mark.parametrize("field, value", [("starts_on", "0001-01-01"), ("ends_on", "9999-12-31"),
                                          ("team_lock_date", "9999-12-31")])
def test_dates_at_the_edges_of_the_calendar_are_422(school, field, value):
    response = school["admin"].post(f"{API}/programs", json={**platinum_cup(), field: value})
    assert response.status_code == 422 and field in response.json()["errors"]


def test_session_times_at_the_edges_of_the_calendar_are_422(school):
    body = {"title": "t", "module": "m", "form": "workshop", "place": "Lab",
            "starts_at": "9999-12-31T23:00:00+00:00", "ends_at": "9999-12-31T23:59:59+00:00",
            "instructor": {"id": "teacher-li", "kind": "teacher"}}
    response = school["admin"].post(f"{API}/programs/{school['program_id']}/sessions", json=body)
    assert response.status_code == 422 and "starts_at" in response.json()["errors"]


def test_a_long_acting_user_on_a_write_is_400(school):
    response = school["admin"].acting("staff:" + "x" * 200).post(f"{API}/programs", json=platinum_cup())
    assert response.status_code == 400 and "X-Acting-User" in response.json()["errors"]


def test_numbers_are_not_truncated_and_rule_lists_have_a_size(school):
    admin, before = school["admin"], programme_count(school["admin"])
    cup = platinum_cup()
    fractional = {**cup, "tracks": [{**cup["tracks"][0], "capacity": 2.9}, *cup["tracks"][1:]]}
    response = admin.post(f"{API}/programs", json=fractional)
    assert response.status_code == 422 and "tracks" in response.json()["errors"]
    assert admin.post(f"{API}/programs", json={**cup, "tracks": [{**cup["tracks"][0], "capacity": 3.0}]}).status_code == 201
    many_rules = {**cup, "credit_rules": {f"rule-{n}": 1 for n in range(60_000)}}
    response = admin.post(f"{API}/programs", json=many_rules)
    assert response.status_code in (413, 422)
    response = admin.post(f"{API}/programs", json={**cup, "credit_rules": {f"rule-{n}": 1 for n in range(101)}})
    assert response.status_code == 422 and "credit_rules" in response.json()["errors"]
    majors = {**cup, "selection_rules": {"required_majors": [f"major {n}" for n in range(201)]}}
    response = admin.post(f"{API}/programs", json=majors)
    assert response.status_code == 422 and "selection_rules" in response.json()["errors"]
    assert programme_count(admin) == before + 1


def test_a_chunked_body_over_the_limit_is_413_and_creates_nothing(school):
    admin, before = school["admin"], programme_count(school["admin"])
    valid = json.dumps(platinum_cup()).encode()

    def chunks():  # a valid programme, then padding past the 1 MB limit: no Content-Length
        yield valid[:-1]
        yield b', "description": "'
        for _ in range(24):
            yield b"x" * 65536
        yield b'"}'
    response = admin.post(f"{API}/programs", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.headers["Content-Type"] == PROBLEM
    assert programme_count(admin) == before


def test_a_revoked_key_stops_working_within_one_second_in_every_worker(system, gateway_db, school):
    key = create_key(school["name"], "admin", db=gateway_db)
    client = Client(system.base_url, key)
    for _ in range(6):  # reach both gateway workers: each remembers the key
        assert client.get(f"{API}/programs").status_code == 200
    revoke_key(key.split("_")[1], db=gateway_db)
    time.sleep(1.1)
    assert [client.get(f"{API}/programs").status_code for _ in range(8)] == [401] * 8


def test_every_write_documents_and_honours_idempotency_key(school, anonymous):
    spec = anonymous.get(f"{API}/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch", "delete"):
                names = [p.get("name") for p in operation.get("parameters", [])]
                assert "Idempotency-Key" in names, f"{method.upper()} {path} does not document Idempotency-Key"
    partner = school["partner"]
    material = partner.post(f"{API}/materials", json={"program_id": school["program_id"], "module": "m",
                                                      "title": "Listing", "kind": "document", "body": "v1"}).json()
    headers = {"Idempotency-Key": f"version-{uuid.uuid4().hex}"}
    first = partner.post(f"{API}/materials/{material['id']}/versions", json={"body": "v2"}, headers=headers)
    again = partner.post(f"{API}/materials/{material['id']}/versions", json={"body": "v2"}, headers=headers)
    assert first.status_code == again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert len(partner.get(f"{API}/materials/{material['id']}").json()["versions"]) == 2


def test_list_routes_of_a_missing_or_foreign_programme_answer_404(school, client_for):
    stranger = client_for("another-school", "admin")
    for path in ("sessions", "polls", "questions/overdue", "proposals"):
        for client, program_id in ((school["admin"], "0" * 32), (stranger, school["program_id"])):
            response = client.get(f"{API}/programs/{program_id}/{path}")
            assert response.status_code == 404, (path, response.status_code)


def test_responses_are_not_sniffed_nor_stored_and_the_docs_page_has_a_policy(school, anonymous):
    for response in (school["admin"].get(f"{API}/programs"), anonymous.get(f"{API}/programs"),
                     anonymous.get(f"{API}/openapi.json")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    docs = anonymous.get("/api/docs")
    assert docs.status_code == 200 and "default-src 'self'" in docs.headers["Content-Security-Policy"]


def test_a_long_url_or_header_is_answered_as_a_problem(school):
    long_url = school["admin"].get(f"{API}/programs", params={"module": "x" * 5000})
    assert long_url.status_code == 414 and long_url.headers["Content-Type"] == PROBLEM
    long_header = school["admin"].get(f"{API}/programs", headers={"X-Note": "x" * 9000})
    assert long_header.status_code == 431 and long_header.headers["Content-Type"] == PROBLEM
