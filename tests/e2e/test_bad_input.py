"""Bad input never gets a 500: every operation of the OpenAPI document, called with
malformed bodies and query strings, answers a 4xx problem and changes nothing."""
import re

import pytest

WRITE_METHODS = {"post", "put", "patch", "delete"}
WRONG_TYPE = {"string": 12345, "integer": "many", "number": "lots", "boolean": "perhaps",
              "array": "not-a-list", "object": 7}


@pytest.fixture(scope="module")
def spec(anonymous):
    return anonymous.get("/api/v1/openapi.json").json()


@pytest.fixture(scope="module")
def callers(client_for):
    return {role: client_for("fuzz-school", role, partner="acme" if role == "partner" else None)
            for role in ("admin", "lms", "partner")}


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in WRITE_METHODS | {"get"}:
                yield method, re.sub(r"\{[^}]+\}", "does-not-exist", path), operation


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def wrong_bodies(spec, operation):
    schema = (operation.get("requestBody", {}).get("content", {})
              .get("application/json", {}).get("schema"))
    bodies = [[], 42, "text", {"unexpected": True}, {}]
    if schema:
        props = resolve(spec, schema).get("properties", {})
        bodies.append({name: WRONG_TYPE.get(resolve(spec, p).get("type"), None) for name, p in props.items()})
        bodies.append({name: "x" * 100_000 for name in props})
    return bodies


def assert_problem(response, what):
    assert response.status_code < 500, f"{what} answered {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == "application/problem+json", what


def test_malformed_bodies_get_a_problem_never_a_500(spec, callers):
    for method, path, operation in operations(spec):
        if method not in WRITE_METHODS:
            continue
        client = callers[operation["x-roles"][0]]
        for body in wrong_bodies(spec, operation):
            assert_problem(client.request(method.upper(), path, json=body), f"{method.upper()} {path} {str(body)[:60]}")
        response = client.request(method.upper(), path, data=b"{\"broken",
                                  headers={"Content-Type": "application/json"})
        assert_problem(response, f"{method.upper()} {path} with broken JSON")


def test_malformed_query_strings_get_a_problem_never_a_500(spec, callers):
    for method, path, operation in operations(spec):
        if method != "get":
            continue
        client = callers[operation["x-roles"][0]]
        # (gunicorn itself refuses a request line over 4 KiB, before the app)
        for params in ({"limit": "all"}, {"offset": -1}, {"limit": 10 ** 12}, {"status": "x" * 3000}):
            assert_problem(client.get(path, params=params), f"GET {path} {str(params)[:60]}")


def test_a_body_over_the_size_limit_is_refused_with_413(callers):
    response = callers["admin"].post("/api/v1/programs", data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


def test_bad_input_leaves_the_data_as_it_was(callers):
    admin = callers["admin"]
    before = admin.get("/api/v1/programs", params={"limit": 200}).json()
    admin.post("/api/v1/programs", json={"name": 5, "tracks": "none"})
    admin.post("/api/v1/programs", data=b"[1, 2", headers={"Content-Type": "application/json"})
    assert admin.get("/api/v1/programs", params={"limit": 200}).json() == before
