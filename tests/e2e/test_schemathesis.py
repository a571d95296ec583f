"""Schemathesis against the running system, from the published document: every
operation, with the admin, LMS and partner keys it admits, on the real ids of a
seeded programme. No server error, no answer outside the document (status,
content type, headers, schema). A failure prints the call that reproduces it.

Bounded: PRAXIS_FUZZ_EXAMPLES test cases per operation and role (default 12).
"""
import os
import random
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

from gateway.auth import create_key
from gateway.demo import Api, seed
from tests.e2e.enrollment_helpers import finished

SCHOOL = "fuzz-cup-school"
PARTNER = "x-mall"
EXAMPLES = int(os.environ.get("PRAXIS_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
REAL_IDS = 0.8  # share of cases that use a seeded id (the rest fuzz the id too)


@pytest.fixture(scope="module")
def seeded(system, gateway_db):
    """A programme with applications, selection, teams, mentors, a session with
    sign-ins (praxis demo), plus a material, a question, a poll and a job."""
    made = seed(system.base_url, SCHOOL, 12, db=gateway_db, out=lambda *a: None)
    keys = {"admin": made["admin_key"], "lms": create_key(SCHOOL, "lms", db=gateway_db),
            "partner": create_key(SCHOOL, "partner", partner_id=PARTNER, db=gateway_db)}
    admin, lms, partner = (Api(system.base_url, keys[r], acting="staff:registrar" if r == "lms" else None)
                           for r in ("admin", "lms", "partner"))
    pid, sid = made["program_id"], made["session_id"]
    admitted = lms.call("GET", f"/programs/{pid}/applications", params={"status": "admitted"})["items"]
    material = partner.call("POST", "/materials", json={
        "program_id": pid, "title": "Listing photos", "module": "store-operations", "kind": "slides",
        "url": "https://x-mall.example.com/a"})
    question = lms.call("POST", f"/sessions/{sid}/questions", json={
        "student_id": admitted[0]["student_id"], "text": "How are listings ranked?"},
        headers={"X-Acting-User": f"student:{admitted[0]['student_id']}"})
    poll = admin.call("POST", f"/programs/{pid}/polls", json={
        "question": "A second session?", "closes_at": (datetime.now(timezone.utc) + timedelta(days=3)).isoformat(),
        "followup": {"title": "Store operations II", "module": "store-operations",
                     "instructor": {"id": "teacher-1", "kind": "teacher"}}})
    job = admin.call("POST", f"/programs/{pid}/selection", json={})
    finished(_client(admin), job["id"])
    ids = {"program_id": pid, "session_id": sid, "application_id": admitted[0]["id"],
           "student_id": admitted[0]["student_id"],
           "team_id": admin.call("GET", f"/programs/{pid}/teams")["items"][0]["id"],
           "mentor_id": admin.call("GET", f"/programs/{pid}/mentors")["items"][0]["id"],
           "tutor_id": admin.call("GET", f"/programs/{pid}/tutors")["items"][0]["id"],
           "material_id": material["id"], "question_id": question["id"], "poll_id": poll["id"],
           "instructor_id": "teacher-1", "job_id": job["id"]}
    return {"keys": keys, "ids": ids}


class _client:
    """Api as the e2e Client ``finished`` expects (``get(path).json()``)."""

    def __init__(self, api):
        self.api = api

    def get(self, path):
        response = self.api.session.get(f"{self.api.base_url}{path}", timeout=30)
        return response


def test_every_operation_answers_as_documented(system, seeded):
    """Each operation in turn (a Hypothesis strategy from its schema), with each
    role it admits; every failure is collected and printed with its curl."""
    schema = schemathesis.openapi.from_url(f"{system.base_url}/api/v1/openapi.json")
    failures, operations, calls = [], 0, [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        failures += _run(operation, seeded, system.base_url, calls)
    print(f"schemathesis: {calls[0]} calls over {operations} operations")
    assert operations > 50 and calls[0] > operations * EXAMPLES
    assert not failures, f"{len(failures)} failing calls:\n\n" + "\n\n".join(failures[:40])


def _run(operation, seeded, base_url, calls):
    found, seen = [], set()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE))
    def run(case):
        rng = random.Random(repr(case.path_parameters) + repr(case.body)[:200])
        for name in list(case.path_parameters or {}):
            if name in seeded["ids"] and rng.random() < REAL_IDS:
                case.path_parameters[name] = seeded["ids"][name]
        for role in operation.definition.raw.get("x-roles", []):
            headers = {"Authorization": f"Bearer {seeded['keys'][role]}"}
            calls[0] += 1
            try:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # a check failed: keep the call, go on
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if (operation.label, first) not in seen:
                    seen.add((operation.label, first))
                    found.append(f"{operation.label} as {role}: {str(exc).strip()[:1500]}\n"
                                 f"  reproduce: {case.as_curl_command(headers=headers)}")
    run()
    return found


def test_sequences_that_follow_the_documents_links_answer_as_documented(system, seeded):
    """Schemathesis's stateful run: it links operations (an id a creation answers
    feeds the operations on that resource) and walks sequences of calls, each
    with a key of a role the operation admits (admin where it may)."""
    schema = schemathesis.openapi.from_url(f"{system.base_url}/api/v1/openapi.json")
    keys, calls = seeded["keys"], []

    class Sequences(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            calls.append(case.operation.label)
            roles = case.operation.definition.raw.get("x-roles", ["admin"])
            role = "admin" if "admin" in roles else roles[0]
            return {"base_url": system.base_url, "headers": {"Authorization": f"Bearer {keys[role]}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))

    Sequences.run(settings=settings(max_examples=max(5, EXAMPLES), stateful_step_count=6, deadline=None,
                                    derandomize=True, database=None, phases=[Phase.generate],
                                    suppress_health_check=list(HealthCheck)))
    print(f"schemathesis stateful: {len(calls)} calls, {len(set(calls))} operations")
    assert len(set(calls)) > 5
