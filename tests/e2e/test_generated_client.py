"""A Python client generated from the published document (openapi-python-client)
runs the demo flow: programme, applications, screening scores, selection (a
job), a session, sign-ins with the rotating code, the funnel."""
import importlib
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from contracts.examples import platinum_cup
from gateway.auth import create_key
from tests.waiting import eventually

SCHOOL = "generated-client-school"


@pytest.fixture(scope="module")
def praxis_client(system, tmp_path_factory):
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        generator = shutil.which("openapi-python-client")
    where = tmp_path_factory.mktemp("client")
    (where / "openapi.json").write_text(requests.get(f"{system.base_url}/api/v1/openapi.json", timeout=30).text)
    done = subprocess.run([str(generator), "generate", "--path", str(where / "openapi.json"), "--meta", "none",
                           "--output-path", str(where / "praxis_client")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("praxis_client")
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == "praxis_client" or m.startswith("praxis_client.")]:
            del sys.modules[name]


def ok(response, status=200):
    assert response.status_code == status, response.content[:300]
    return response.parsed


def test_the_demo_flow_runs_through_a_client_generated_from_the_document(system, gateway_db, praxis_client):
    api = lambda name: importlib.import_module(f"praxis_client.api.{name}")  # noqa: E731
    models = importlib.import_module("praxis_client.models")
    admin = praxis_client.AuthenticatedClient(base_url=system.base_url, token=create_key(SCHOOL, "admin", db=gateway_db))
    lms = praxis_client.AuthenticatedClient(base_url=system.base_url, token=create_key(SCHOOL, "lms", db=gateway_db))

    program = ok(api("programs.create_program").sync_detailed(
        client=admin, body=models.ProgramCreate.from_dict(platinum_cup("Generated cup", capacity_ug=2))), 201)
    for n, score in enumerate((91, 82, 73)):
        application = ok(api("applications.submit_application").sync_detailed(program.id, client=lms, body=(
            models.ApplicationCreate.from_dict({"student_id": f"g{n}", "name": f"Student {n}",
                                                "track": "undergraduate"}))), 201)
        ok(api("applications.record_screening_score").sync_detailed(
            application.id, client=admin, body=models.ScreeningScore.from_dict({"score": score})))

    job = ok(api("applications.run_selection").sync_detailed(
        program.id, client=admin, body=models.SelectionRun.from_dict({})), 202)
    while job.state.value not in ("succeeded", "failed"):
        time.sleep(0.1)
        job = ok(api("jobs.get_job").sync_detailed(job.id, client=admin))
    assert job.state.value == "succeeded"
    decided = {d["student_id"]: d["decision"] for d in job.result.to_dict()["decisions"]}
    assert decided == {"g0": "admitted", "g1": "admitted", "g2": "waitlisted"}

    start = datetime.now(timezone.utc)
    body = models.SessionCreate.from_dict({
        "title": "Store operations", "module": "store-ops", "form": "offline_lecture", "place": "Room 101",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "instructor": {"id": "teacher-li", "kind": "teacher"}})
    # content learns of the programme from its event: the first attempts may answer 404
    def created():
        response = api("sessions.create_session").sync_detailed(program.id, client=admin, body=body)
        return response.parsed if response.status_code == 201 else None
    session = eventually(created)
    ok(api("attendance.open_checkin").sync_detailed(
        session.id, client=admin, body=models.CheckinWindow.from_dict({"minutes": 30, "period_seconds": 60})), 201)

    def signed_in(student_id):
        code = ok(api("attendance.checkin_code").sync_detailed(session.id, client=admin)).code
        response = api("attendance.sign_in").sync_detailed(
            session.id, client=lms, body=models.SignIn.from_dict({"student_id": student_id, "code": code}))
        return response.status_code in (200, 201)  # 409 until content knows the admission
    for student_id in ("g0", "g1"):
        eventually(lambda: signed_in(student_id))

    def funnel():
        stages = ok(api("programs.get_funnel").sync_detailed(program.id, client=admin)).stages.to_dict()
        return stages if stages["trained"] == 2 else None
    stages = eventually(funnel)
    assert stages["registered"] == 3 and stages["admitted"] == 2
