"""Programmes through the gateway: gateway -> RPC -> database -> event -> supervision."""
import pytest

from tests.waiting import eventually
from tests.e2e.programs_payloads import platinum_cup


@pytest.fixture(scope="module")
def admin(client_for):
    return client_for("jufe", "admin")


def test_admin_creates_a_programme_and_reads_it_back(admin):
    created = admin.post("/api/v1/programs", json=platinum_cup())
    assert created.status_code == 201, created.text
    program = created.json()
    assert created.headers["Location"] == f"/api/v1/programs/{program['id']}"
    assert program["school_id"] == "jufe"
    assert [t["platform"] for t in program["tracks"]] == ["X-Mall", "Our Mall"]

    read = admin.get(f"/api/v1/programs/{program['id']}")
    assert read.status_code == 200
    assert read.json() == program
    assert program["id"] in [p["id"] for p in admin.get("/api/v1/programs").json()]


def test_supervision_starts_a_funnel_for_a_new_programme(admin):
    program = admin.post("/api/v1/programs", json=platinum_cup("Funnel cup")).json()

    def funnel():
        response = admin.get(f"/api/v1/programs/{program['id']}/funnel")
        return response.json() if response.status_code == 200 else None

    record = eventually(funnel)
    assert record["name"] == "Funnel cup"
    assert record["tracks"] == ["undergraduate", "vocational"]
    assert record["stages"]["registered"] == 0


def test_a_request_without_a_key_is_refused_with_401(anonymous):
    response = anonymous.get("/api/v1/programs")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_forged_key_is_refused_with_401(system):
    from tests.e2e.conftest import Client
    response = Client(system.base_url, "prx_0000000000000000_forged").get("/api/v1/programs")
    assert response.status_code == 401


def test_another_schools_programme_answers_404(admin, client_for):
    program = admin.post("/api/v1/programs", json=platinum_cup()).json()
    other = client_for("another-school", "admin")
    response = other.get(f"/api/v1/programs/{program['id']}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert program["id"] not in [p["id"] for p in other.get("/api/v1/programs").json()]


def test_a_bad_body_gets_422_with_the_field_errors_and_stores_nothing(admin):
    before = len(admin.get("/api/v1/programs", params={"limit": 200}).json())
    body = platinum_cup(ends_on="2025-01-01", school_id="someone-else")
    body["tracks"][0]["capacity"] = -1
    response = admin.post("/api/v1/programs", json=body)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert "school_id" in errors  # server-owned: no mass assignment
    assert "capacity" in str(errors["tracks"])
    assert len(admin.get("/api/v1/programs", params={"limit": 200}).json()) == before


def test_a_body_that_is_not_json_gets_a_problem_not_a_500(admin):
    response = admin.post("/api/v1/programs", data="{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_same_post_twice_with_one_idempotency_key_creates_one_programme(admin):
    body = platinum_cup("Idempotent cup")
    headers = {"Idempotency-Key": "create-idempotent-cup-1"}
    first = admin.post("/api/v1/programs", json=body, headers=headers)
    second = admin.post("/api/v1/programs", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    named = [p for p in admin.get("/api/v1/programs", params={"limit": 200}).json()
             if p["name"] == "Idempotent cup"]
    assert len(named) == 1


def test_an_idempotency_key_reused_with_another_body_is_refused(admin):
    headers = {"Idempotency-Key": "create-reused-key"}
    assert admin.post("/api/v1/programs", json=platinum_cup("A"), headers=headers).status_code == 201
    response = admin.post("/api/v1/programs", json=platinum_cup("B"), headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["errors"]


def test_an_lms_key_may_read_but_not_create_programmes(admin, client_for):
    lms = client_for("jufe", "lms")
    assert lms.post("/api/v1/programs", json=platinum_cup()).status_code == 403
    program = admin.post("/api/v1/programs", json=platinum_cup()).json()
    assert lms.get(f"/api/v1/programs/{program['id']}").status_code == 200


def test_health_and_ready_answer(anonymous):
    assert anonymous.get("/health").json() == {"status": "ok"}
    ready = anonymous.get("/ready")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) >= {"broker", "database", "service:enrollment",
                                           "service:supervision", "service:content",
                                           "service:assessment", "service:incentives"}


def test_the_openapi_document_lists_the_programme_routes(anonymous):
    spec = anonymous.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/programs", "/api/v1/programs/{program_id}"} <= set(spec["paths"])
    assert "ProgramCreate" in spec["components"]["schemas"]


def test_concurrent_retries_with_one_idempotency_key_create_one_programme(admin):
    from concurrent.futures import ThreadPoolExecutor
    body = platinum_cup("Concurrent idempotent cup")
    headers = {"Idempotency-Key": "create-concurrent-cup"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: admin.post("/api/v1/programs", json=body, headers=headers),
                                  range(6)))
    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    named = [p for p in admin.get("/api/v1/programs", params={"limit": 200}).json()
             if p["name"] == "Concurrent idempotent cup"]
    assert len(named) == 1


def test_a_callers_request_id_is_echoed_and_a_malformed_one_replaced(admin):
    kept = admin.get("/api/v1/programs", headers={"X-Request-ID": "lms-req-42"})
    assert kept.headers["X-Request-ID"] == "lms-req-42"
    replaced = admin.get("/api/v1/programs", headers={"X-Request-ID": "bad id\twith spaces" * 20})
    assert replaced.headers["X-Request-ID"] != "bad id\twith spaces" * 20
    assert len(replaced.headers["X-Request-ID"]) == 32


def test_a_retry_takes_over_a_key_left_running_by_a_gateway_that_died(client_for, gateway_db):
    import time
    admin = client_for("jufe", "admin")
    key_id = admin.session.headers["Authorization"].split("_")[1]
    body = platinum_cup("Crashed gateway cup")
    first = admin.post("/api/v1/programs", json=body, headers={"Idempotency-Key": "left-running"})
    record = gateway_db.idempotency.find_one({"_id": f"{key_id}:left-running"})
    # the gateway died mid-request: the record says running, and nobody renews its lease
    gateway_db.idempotency.replace_one({"_id": record["_id"]}, {
        **{k: v for k, v in record.items() if k not in ("status", "body", "mimetype", "location")},
        "state": "running", "lease_ts": time.time() - 1})
    retry = admin.post("/api/v1/programs", json=body, headers={"Idempotency-Key": "left-running"})
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]  # the same operation id: still one programme
    again = admin.post("/api/v1/programs", json=body, headers={"Idempotency-Key": "left-running"})
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_the_api_docs_page_and_its_assets_are_served_by_the_gateway(anonymous):
    page = anonymous.get("/api/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "/api/v1/openapi.json" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert anonymous.get(f"/api/docs/assets/{asset}").status_code == 200, asset
