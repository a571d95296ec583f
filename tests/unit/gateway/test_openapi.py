"""The OpenAPI document describes what the gateway answers, for every route
(present and future): problem+json errors, the statuses, the headers, a
description and an example that satisfies its own schema."""
import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from gateway import create_app
from gateway.openapi import PROBLEM

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def spec():
    app = create_app({"TESTING": True})
    return app.test_client().get("/api/v1/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method], item.get("parameters", [])


def resolve(spec, obj):
    while "$ref" in obj:
        node = spec
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def validator(spec, schema):
    """Validate against ``schema`` with the document's components in reach of its $refs."""
    return OAS30Validator({"allOf": [schema], "components": spec["components"]})


def test_the_document_is_valid_openapi_3(spec):
    validate(spec)


def test_every_error_is_problem_json_with_an_integer_status(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert problem["properties"]["status"]["type"] == "integer"
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors", "correlation_id"}
    assert "Error" not in spec["components"]["schemas"]
    for path, method, operation, _ in operations(spec):
        assert "default" not in operation["responses"], f"{method} {path}"
        for code, response in operation["responses"].items():
            response = resolve(spec, response)
            if int(code) >= 400:
                assert list(response["content"]) == [PROBLEM], f"{method} {path} {code}"
                assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_every_operation_lists_the_statuses_it_answers(spec):
    for path, method, operation, path_params in operations(spec):
        codes = {int(c) for c in operation["responses"]}
        where = f"{method.upper()} {path}"
        assert {400, 401, 403, 429, 503} <= codes, where
        assert any(200 <= c < 300 for c in codes), where
        if "{" in path:
            assert 404 in codes, where
        if "requestBody" in operation:
            assert {413, 422} <= codes, where
        if method != "get":
            assert 409 in codes, where
        if any(p.get("in") == "query" for p in operation.get("parameters", [])):
            assert 422 in codes, where


def test_headers_are_documented_where_the_route_uses_them(spec):
    for path, method, operation, _ in operations(spec):
        names = {resolve(spec, p)["name"] for p in operation.get("parameters", []) if resolve(spec, p)["in"] == "header"}
        where = f"{method.upper()} {path}"
        assert "X-Request-ID" in names, where
        assert ("Idempotency-Key" in names) == bool(operation.get("x-idempotent")), where
        assert ("X-Acting-User" in names) == bool(operation.get("x-acting")), where
        for code in ("409", "429", "503"):
            if code in operation["responses"]:
                assert "Retry-After" in resolve(spec, operation["responses"][code])["headers"], where


def test_the_routes_that_take_an_idempotency_key_say_so(spec):
    idempotent = {(m, p) for p, m, op, _ in operations(spec) if op.get("x-idempotent")}
    assert ("post", "/api/v1/programs") in idempotent
    assert ("post", "/api/v1/programs/{program_id}/applications") in idempotent
    assert ("get", "/api/v1/programs") not in idempotent


def test_every_operation_has_a_description_and_examples_that_satisfy_their_schemas(spec):
    for path, method, operation, _ in operations(spec):
        where = f"{method.upper()} {path}"
        assert operation.get("description") and operation.get("summary"), where
        assert "\n" not in operation["summary"], where
        media = [*operation.get("requestBody", {}).get("content", {}).values()]
        media += [m for code, r in operation["responses"].items()
                  for m in resolve(spec, r).get("content", {}).values()]
        for item in media:
            assert "example" in item, where
            errors = list(validator(spec, item["schema"]).iter_errors(item["example"]))
            assert not errors, f"{where}: {errors[0].message}"


def test_the_programme_example_is_the_platinum_cup(spec):
    example = spec["paths"]["/api/v1/programs"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert [t["platform"] for t in example["tracks"]] == ["X-Mall", "Our Mall"]


def test_every_list_answers_one_page_shape_with_a_bounded_limit(spec):
    schemas = spec["components"]["schemas"]
    for path, method, operation, _ in operations(spec):
        ok = operation["responses"].get("200")
        if method != "get" or ok is None:
            continue
        schema = resolve(spec, ok)["content"].get("application/json", {}).get("schema", {})
        where = f"GET {path}"
        assert schema.get("type") != "array", f"{where} answers a bare array"
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        if name.endswith("Page"):
            assert set(schemas[name]["required"]) == {"items", "limit", "offset", "has_more"}, where
            query = {p["name"]: p for p in operation["parameters"] if p.get("in") == "query"}
            assert query["limit"]["schema"]["maximum"] <= 500 and "offset" in query, where


def test_every_operation_has_a_unique_id_named_after_its_view(spec):
    ids = [op["operationId"] for _, _, op, _ in operations(spec)]
    assert len(ids) == len(set(ids))
    assert spec["paths"]["/api/v1/programs"]["post"]["operationId"] == "create_program"


def test_request_examples_pass_the_schemas_cross_field_rules_too(spec):
    from gateway.openapi import _schema_classes
    classes = _schema_classes()
    for path, method, operation, _ in operations(spec):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if not media:
            continue
        name = media["schema"].get("$ref", "").rsplit("/", 1)[-1]
        errors = classes[name]().validate(media["example"])
        assert not errors, f"{method.upper()} {path}: {errors}"


def test_schemas_state_the_cross_field_rules_json_schema_cannot(spec):
    schemas = spec["components"]["schemas"]
    assert "min must not exceed max" in schemas["TeamSize"]["description"]
    assert "grace_seconds is shorter than period_seconds" in schemas["CheckinWindow"]["description"]
    assert "live_online session needs stream_url" in schemas["SessionCreate"]["description"]
    assert "a rejection needs a reason" in schemas["SessionReview"]["description"]


def test_every_schema_has_its_own_name_in_the_document():
    """Two schema classes of one name would be renamed by apispec (``InstructorScore1``):
    a client generated from the document would get a name that says nothing."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_app({"TESTING": True}).test_client().get("/api/v1/openapi.json")
    clashes = [str(w.message) for w in caught if "Multiple schemas resolved" in str(w.message)]
    assert clashes == []
