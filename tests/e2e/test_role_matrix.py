"""Function-level authorisation over every route of the OpenAPI document, so a
route added later is covered without writing a test for it."""
import re

import pytest

from gateway.auth import ROLES

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def operations(anonymous):
    spec = anonymous.get("/api/v1/openapi.json").json()
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                found.append((method, path, operation))
    assert found, "the OpenAPI document lists no operation"
    return found


def concrete(path):
    return re.sub(r"\{[^}]+\}", "00000000000000000000000000000000", path)


def test_every_operation_says_which_roles_may_call_it(operations):
    for method, path, operation in operations:
        roles = operation.get("x-roles")
        assert roles and set(roles) <= set(ROLES), f"{method.upper()} {path} lists no valid x-roles"


def test_every_operation_refuses_a_call_without_a_key(operations, anonymous):
    for method, path, _ in operations:
        response = anonymous.request(method.upper(), concrete(path), json={})
        assert response.status_code == 401, f"{method.upper()} {path} answered {response.status_code}"


def test_every_operation_refuses_the_roles_it_does_not_list(operations, client_for):
    clients = {role: client_for("matrix-school", role, partner="acme" if role == "partner" else None)
               for role in ROLES}
    for method, path, operation in operations:
        for role in set(ROLES) - set(operation["x-roles"]):
            response = clients[role].request(method.upper(), concrete(path), json={})
            assert response.status_code == 403, (
                f"{role} got {response.status_code} from {method.upper()} {path}")
            assert response.headers["Content-Type"] == "application/problem+json"


def test_every_operation_the_lms_may_call_says_for_whom_it_may_act(operations):
    from gateway.auth import ACTING_KINDS
    for method, path, operation in operations:
        if "lms" in operation["x-roles"]:
            kinds = operation.get("x-acting")
            assert kinds and set(kinds) <= set(ACTING_KINDS), f"{method.upper()} {path} lists no x-acting"


# the programme's supervision dashboard reads: school staff (admin keys, the LMS acting for
# staff); never partners; the LMS only for staff (x-acting), so never for a student
DASHBOARD_READS = {("get", "/api/v1/programs/{program_id}/funnel"),
                   ("get", "/api/v1/programs/{program_id}/funnel/{stage}/students"),
                   ("get", "/api/v1/programs/{program_id}/report"),
                   ("get", "/api/v1/programs/{program_id}/report.csv"),
                   ("get", "/api/v1/programs/{program_id}/idle-accounts"),
                   ("get", "/api/v1/programs/{program_id}/alerts")}


def test_the_dashboard_reads_are_staffs_through_an_admin_key_or_the_lms(operations, client_for):
    found = {(method, path): operation for method, path, operation in operations}
    assert DASHBOARD_READS <= set(found)
    partner = client_for("matrix-school", "partner", partner="acme")
    student = client_for("matrix-school", "lms", acting="student:s1")
    for method, path in sorted(DASHBOARD_READS):
        operation = found[(method, path)]
        assert sorted(operation["x-roles"]) == ["admin", "lms"] and operation["x-acting"] == ["staff"], path
        for who, client in (("partner", partner), ("student", student)):
            response = client.request(method.upper(), concrete(path))
            assert response.status_code == 403, f"{who} got {response.status_code} from {path}"
