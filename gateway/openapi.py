"""The OpenAPI document as the gateway really answers: one pass over the document
flask-smorest generates, so that every route, present and future, gets it.

- Every error is ``application/problem+json`` with the real ``Problem`` schema.
- Each operation lists the statuses it can answer, from facts about the route:
  every /api/v1 call may answer 400 (malformed JSON or X-Acting-User), 401, 403
  (role, or an acting person the key may not name), 429 (rate limit) and 503 (a
  service or the database away); 404 where the path names a resource; 409 on
  writes (a state conflict, or an Idempotency-Key still in flight) and where a
  route declares one; 413 and 422 where a body or query is validated.
- Headers: ``Idempotency-Key`` where the route is ``@idempotent``, ``X-Acting-User``
  where it lists ``x-acting``, ``X-Request-ID`` on every operation and response,
  ``Retry-After`` on 409, 429 and 503.
- Every operation has a summary and a description (the docstring), and an
  example of its request body and success response (generated from the schema,
  so it always satisfies it, or taken from ``EXAMPLES``).
"""
import copy
import re
from datetime import date

from marshmallow import Schema, fields

from contracts.examples import platinum_cup

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")


class ProblemSchema(Schema):
    """RFC 9457 problem details: the body of every error the gateway answers."""
    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable entity"})
    status = fields.Integer(required=True, metadata={"example": 422})
    detail = fields.String(required=True, metadata={"example": "request failed validation"})
    errors = fields.Dict(metadata={
        "description": "Field (or header) -> reasons; present on 422 and on some 400/403",
        "example": {"name": ["Missing data for required field."]}})
    correlation_id = fields.String(metadata={
        "description": "The request's X-Request-ID, to quote when reporting a problem",
        "example": "4f1c2b8e9d0a4b7c8e6f5a3b2c1d0e9f"})


ERRORS = {
    400: ("Bad request", "Malformed JSON, or a malformed X-Acting-User header (or one the route needs is missing)"),
    401: ("Unauthorized", "No API key, or an unknown or revoked one"),
    403: ("Forbidden", "The key's role, or the person it acts for, may not do this"),
    404: ("Not found", "No such resource in the caller's school (another school's answers 404 too)"),
    409: ("Conflict", "The resource's state refuses this now (e.g. a window not open, a decision already made), "
                      "or a request with the same Idempotency-Key is still running"),
    413: ("Payload too large", "The body is larger than the gateway accepts (PRAXIS_MAX_BODY_BYTES)"),
    422: ("Unprocessable entity", "The body or query failed validation (errors name the fields), or the "
                                  "Idempotency-Key was used with another request"),
    429: ("Too many requests", "The key's rate limit is spent; retry after Retry-After seconds"),
    503: ("Service unavailable", "A service, the broker or the database did not answer in time; "
                                 "retry after Retry-After seconds"),
}
RETRY_AFTER = (409, 429, 503)

# what the route facts do not show: conflicts of reads (writes are assumed to have
# them), and resources named in the body rather than the path
DECLARED = {
    ("get", "/api/v1/sessions/{session_id}/checkin-code"): {409: "No check-in window is open for the session"},
}

# request examples a reader recognises (others are generated from the schema)
EXAMPLES = {
    "ProgramCreate": platinum_cup("Platinum Cup 2027", starts_on=date(2027, 3, 1)),
    "SessionCreate": {"title": "Store operations on X-Mall", "module": "store-operations", "form": "offline_lecture",
                      "starts_at": "2027-03-08T09:00:00+08:00", "ends_at": "2027-03-08T11:00:00+08:00",
                      "place": "Teaching building A, room 101", "instructor": {"id": "teacher-li", "kind": "teacher"},
                      "tracks": ["undergraduate"]},
    "AssessmentCreate": {"kind": "competition", "title": "Store operations, run 1", "module": "store-operations",
                         "opens_at": "2027-03-08T09:00:00+08:00", "deadline": "2027-03-22T23:59:00+08:00",
                         "max_score": 100, "tracks": ["undergraduate"]},
    "QuestionBankCreate": {"questions": [{
        "id": "rules-1", "kind": "single_choice", "module": "rules", "points": 1,
        "text": "How long may a store stay without activity before the penalty?",
        "options": [{"id": "a", "text": "3 days", "correct": True}, {"id": "b", "text": "3 weeks"}]}]},
    "CompetitionScoresCreate": {"results": [{"run_id": "x-mall-2027-03-run-1", "team_id": "falcons", "score": 87.5}]},
    "SessionUpdate": {"starts_at": "2027-03-09T09:00:00+08:00", "ends_at": "2027-03-09T11:00:00+08:00"},
}

_FORMATS = {"date": "2026-03-01", "date-time": "2026-03-01T09:00:00+00:00", "email": "mentor@example.com",
            "uri": "https://meet.example.com/room/1", "url": "https://meet.example.com/room/1",
            "uuid": "5b9a4c9e-6a4e-4a0a-9f1c-0c7a3c2d1e5f"}
# a value for each pattern the contracts use (a new pattern fails tests/unit/gateway/test_openapi.py)
_PATTERNS = {r"^[a-z0-9][a-z0-9_-]{0,39}$": "undergraduate", r"^\d{6}$": "492817",
             r"^[a-z_]+(\.[a-z_]+)+\.v\d+$": "student.admitted.v1",
             r"^\d{1,12}(\.\d{1,2})?$": "1500.00", r"^[A-Z]{3}$": "CNY"}


def finish(spec, app=None):
    """Return the finished document (``spec`` is flask-smorest's, left as it is);
    with the Flask ``app``, each operation's id is its view's name (clients
    generated from the document call ``create_program``, not a path)."""
    spec = copy.deepcopy(spec)
    ids = operation_ids(app) if app is not None else {}
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("Error", None)
    schemas.pop("PaginationMetadata", None)
    schemas["Problem"] = _problem_schema()
    components["responses"] = {_name(code): _error_response(code) for code in ERRORS}
    components["headers"] = {
        "X-Request-ID": {"description": "The request's correlation id (the caller's if it sent a plain token)",
                         "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer", "minimum": 0}},
    }
    components["parameters"] = {
        "X-Request-ID": {"in": "header", "name": "X-Request-ID", "required": False,
                         "description": "A correlation id of the caller's (1-128 of A-Z a-z 0-9 . _ : -), "
                                        "echoed in the answer and in every log line and event of the request",
                         "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,128}$"}},
        "Idempotency-Key": {"in": "header", "name": "Idempotency-Key", "required": False,
                            "description": "A retry with the same key returns the first answer instead of doing "
                                           "the work twice (409 while the first still runs, 422 with another body)",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
    }
    _describe_schemas(schemas)
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                _operation(spec, path, method, item[method], item.get("parameters", []))
                if (method, path) in ids:
                    item[method]["operationId"] = ids[(method, path)]
    return spec


def operation_ids(app):
    """(method, OpenAPI path) -> the view's name, qualified by its blueprint only
    where two views share a name."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue  # pages (dashboard, LTI, badges) are not operations of the document
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(method.lower(), path)] = rule.endpoint
    names = [e.rsplit(".", 1)[-1] for e in found.values()]
    return {key: (endpoint.rsplit(".", 1)[-1] if names.count(endpoint.rsplit(".", 1)[-1]) == 1
                  else endpoint.replace(".", "_"))
            for key, endpoint in found.items()}


def _schema_classes():
    from contracts.base import StrictSchema
    found, todo = {}, [StrictSchema]
    while todo:
        klass = todo.pop()
        found.setdefault(klass.__name__.removesuffix("Schema"), klass)
        todo += klass.__subclasses__()
    return found


def _describe_schemas(schemas):
    """A schema's description: its docstring and the cross-field rules it checks
    (``contracts.base.rule``), which JSON Schema cannot say."""
    from contracts.base import rules_of
    classes = _schema_classes()
    for name, schema in schemas.items():
        klass = classes.get(name)
        if klass is None:
            continue
        parts = [schema.get("description") or " ".join((klass.__doc__ or "").split())]
        rules = rules_of(klass)
        if rules:
            parts.append("Rules: " + "; ".join(rules) + ".")
        text = " ".join(p for p in parts if p)
        if text:
            schema["description"] = text


def _name(code):
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            413: "PayloadTooLarge", 422: "UnprocessableEntity", 429: "TooManyRequests",
            503: "ServiceUnavailable"}[code]


def _problem_schema():
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin
    plugin = MarshmallowPlugin()
    APISpec("problem", "1", "3.0.3", plugins=[plugin])
    schema = plugin.converter.schema2jsonschema(ProblemSchema)
    schema["description"] = ProblemSchema.__doc__
    return schema


def _error_response(code):
    title, description = ERRORS[code]
    headers = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    if code in RETRY_AFTER:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if code == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}, "description": "Bearer realm"}
    example = {"type": "about:blank", "title": title, "status": code, "detail": description,
               "correlation_id": "4f1c2b8e9d0a4b7c8e6f5a3b2c1d0e9f"}
    return {"description": f"{title}: {description}", "headers": headers,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}}}


def statuses(path, method, operation, path_parameters=(), body_names_a_resource=False):
    """The error statuses this operation can answer, from the route's facts (a path
    or a body naming a resource by id may name none of the caller's: 404)."""
    codes = {400, 401, 403, 429, 503}
    params = [*path_parameters, *operation.get("parameters", [])]
    if "{" in path or body_names_a_resource:
        codes.add(404)
    if method in WRITES or operation.get("x-idempotent"):
        codes.add(409)
    if "requestBody" in operation:
        codes |= {413, 422}
    if any(p.get("in") == "query" for p in params) or operation.get("x-idempotent"):
        codes.add(422)
    codes |= set(DECLARED.get((method, path), {}))
    return sorted(codes)


def _operation(spec, path, method, operation, path_parameters):
    parameters = operation.setdefault("parameters", [])
    if any(p.get("name") == "Idempotency-Key" for p in parameters):  # @idempotent documents its header
        operation["x-idempotent"] = True
    responses = operation.setdefault("responses", {})
    for code in list(responses):
        if code == "default" or (code.isdigit() and int(code) >= 400):
            del responses[code]
    for code, response in responses.items():
        response.setdefault("headers", {})["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
        if code == "201":
            response["headers"].setdefault("Location", {"schema": {"type": "string"},
                                                        "description": "The created resource"})
        for media in response.get("content", {}).values():
            if "schema" in media and "example" not in media:
                media["example"] = example(spec, media["schema"])
    declared = DECLARED.get((method, path), {})
    for code in statuses(path, method, operation, path_parameters, _body_names_a_resource(spec, operation)):
        responses[str(code)] = ({**_error_response(code), "description": declared[code]} if code in declared
                                else {"$ref": f"#/components/responses/{_name(code)}"})
    parameters.append({"$ref": "#/components/parameters/X-Request-ID"})
    if operation.get("x-idempotent") and not any(p.get("name") == "Idempotency-Key" for p in parameters):
        parameters.append({"$ref": "#/components/parameters/Idempotency-Key"})
    if operation.get("x-acting"):
        kinds = operation["x-acting"]
        parameters.append({
            "in": "header", "name": "X-Acting-User", "required": False,
            "description": (f"Who acts: {' or '.join(k + ':<id>' for k in kinds)}. The LMS must send it "
                            "(400 without); an admin or partner key acts as itself or names its own staff."),
            "schema": {"type": "string", "maxLength": 128,
                       "pattern": rf"^({'|'.join(kinds)}):[!-~]{{1,120}}$"}})
    body = operation.get("requestBody", {})
    for media in body.get("content", {}).values():
        if "schema" in media and "example" not in media:
            name = _ref_name(media["schema"])
            media["example"] = copy.deepcopy(EXAMPLES[name]) if name in EXAMPLES else example(spec, media["schema"])
    _describe(operation, method, path)


def _body_names_a_resource(spec, operation):
    """The JSON body has a field ``<something>_id`` (a programme, a student, an item...)."""
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not media:
        return False
    schema = media.get("schema", {})
    name = _ref_name(schema)
    if name:
        schema = spec["components"]["schemas"].get(name, {})
    return any(prop.endswith("_id") for prop in schema.get("properties", {}))


def _describe(operation, method, path):
    text = (operation.get("description") or operation.get("summary") or "").strip()
    if not text:
        text = f"{method.upper()} {path}"
    if not operation.get("description"):
        operation["description"] = text
    first = re.split(r"(?<=[.!?])\s|\n\n", operation.get("summary") or text, maxsplit=1)[0]
    operation["summary"] = " ".join(first.split())[:120]


def _ref_name(schema):
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def example(spec, schema, depth=0):
    """A value that satisfies ``schema`` (the subset of JSON Schema the marshmallow
    plugin writes): enums, formats, known patterns, lengths and ranges."""
    name = _ref_name(schema)
    if name:
        if name in EXAMPLES:
            return copy.deepcopy(EXAMPLES[name])
        schema = spec["components"]["schemas"].get(name, {})
    if "example" in schema:
        return schema["example"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    if depth > 8:
        return None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example(spec, v, depth + 1) for k, v in props.items()}
    if kind == "array":
        item = example(spec, schema.get("items", {}), depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(schema.get("minimum", 1), min(1, schema.get("maximum", 1)))
    if kind == "number":
        return float(max(schema.get("minimum", 1), min(1, schema.get("maximum", 1))))
    if kind == "boolean":
        return True
    if kind == "string":
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        if schema.get("pattern") in _PATTERNS:
            return _PATTERNS[schema["pattern"]]
        text = "example"
        low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
        text = (text * (1 + low // len(text)))[:max(low, min(high, len(text)))]
        return text
    return None
