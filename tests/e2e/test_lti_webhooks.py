"""LTI and webhooks through the running system: a launch session opened by an LMS
(lti1p3platform) is a caller the services obey, school by school; a webhook
endpoint hears an event a real request caused, signed."""
import json
import re
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlparse

import requests

from contracts.examples import platinum_cup
from tests.e2e.enrollment_helpers import apply, create_programme, score, select
from services.webhooks.domain import verify
from tests.lti_platform import ADMINISTRATOR, INSTRUCTOR, LEARNER, platforms  # noqa: F401  (fixture)
from tests.waiting import eventually

API = "/api/v1"


def register(system, admin, platform):
    response = admin.post("/api/v1/lti/platforms", json=platform.registration_body())
    assert response.status_code == 201, response.text
    jwks = urlparse(response.json()["tool"]["jwks_url"]).path
    platform.tool_jwks_fetch = lambda: requests.get(system.base_url + jwks, timeout=10).json()


def browser_launch(system, platform, user, roles, **claims):
    """The browser's way through login and launch; returns its session (cookies kept)."""
    browser = requests.Session()
    login = browser.get(f"{system.base_url}/lti/login?{urlencode(platform.login_initiation_params(user))}",
                        allow_redirects=False, timeout=10)
    assert login.status_code == 302, login.text
    auth = dict(parse_qsl(urlparse(login.headers["Location"]).query))
    form = platform.sign(platform.launch_message(auth, user, roles, **claims))
    launched = browser.post(f"{system.base_url}/lti/launch", data=form, allow_redirects=False, timeout=10)
    assert launched.status_code == 302, launched.text
    browser.page = launched.headers["Location"]
    browser.csrf = browser.get(f"{system.base_url}/lti/session", timeout=10).json()["csrf"]
    return browser


def test_launch_sessions_act_in_their_own_school_only(system, client_for, platforms):
    school_a = platforms()
    register(system, client_for("lti-a", "admin"), school_a)
    school_b = platforms(issuer="https://lms.b.edu", client_id="praxis-b")
    register(system, client_for("lti-b", "admin"), school_b)

    dean = browser_launch(system, school_a, "dean-1", [ADMINISTRATOR])
    created = dean.post(f"{system.base_url}/api/v1/programs", json=platinum_cup(starts_on=date.today()),
                        headers={"X-CSRF-Token": dean.csrf}, timeout=30)
    assert created.status_code == 201, created.text
    program_id = created.json()["id"]
    student = browser_launch(system, school_a, "stu-1", [LEARNER])
    assert student.get(f"{system.base_url}/api/v1/programs/{program_id}", timeout=30).status_code == 200
    assert student.post(f"{system.base_url}/api/v1/programs", json=platinum_cup(),
                        headers={"X-CSRF-Token": student.csrf}, timeout=30).status_code == 403
    outsider = browser_launch(system, school_b, "dean-b", [ADMINISTRATOR])
    assert outsider.get(f"{system.base_url}/api/v1/programs/{program_id}", timeout=30).status_code == 404

    # an instructor picks the programme on Praxis's page; the LMS gets a signed resource link
    teacher = browser_launch(system, school_a, "teacher-1", [INSTRUCTOR], deep_linking=True)
    picker = teacher.get(system.base_url + teacher.page, timeout=30)
    assert picker.status_code == 200 and f'value="{program_id}"' in picker.text
    launch_id = dict(parse_qsl(urlparse(teacher.page).query))["launch"]
    answer = teacher.post(f"{system.base_url}/lti/deep-linking", headers={"X-CSRF-Token": teacher.csrf}, timeout=30,
                          json={"launch_id": launch_id, "items": [{"kind": "program", "id": program_id,
                                                                   "title": "Platinum Cup 2026"}]})
    response_jwt = re.search(r'name="JWT" value="([^"]+)"', answer.text).group(1)
    [item] = school_a.validate_deep_linking_response(response_jwt)
    assert item["custom"] == {"praxis_target": f"program:{program_id}"}


class Receiver:
    def __init__(self):
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 503 if len(receiver.received) == 1 else 204  # fails its first answer
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_webhook_endpoint_hears_the_event_a_request_caused_signed_after_a_failure(client_for):
    admin = client_for("hooks-school", "admin")
    receiver = Receiver()
    try:
        endpoint = admin.post("/api/v1/webhooks/endpoints",
                              json={"url": receiver.url, "event_types": ["program.created.v1"]})
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["secret"]
        program = admin.post("/api/v1/programs", json=platinum_cup(starts_on=date.today())).json()
        eventually(lambda: len(receiver.received) == 2, timeout=60)
        for headers, body in receiver.received:
            assert verify(secret, headers["Praxis-Signature"], body, now=int(time.time()))
            assert json.loads(body)["payload"]["program_id"] == program["id"]
        [delivery] = admin.get(f"/api/v1/webhooks/endpoints/{endpoint.json()['id']}/deliveries").json()["items"]
        assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_quiz_taken_through_the_lms_sends_its_score_back_to_the_lms_line_item(system, client_for, platforms):
    """The whole journey: the LMS links a Praxis quiz with a line item; the student opens it
    from the LMS, answers with the launch session, the assessment service grades it, and
    the webhooks service posts the score to the LMS (lti1p3platform's AGS endpoint)."""
    school = f"ags-{uuid.uuid4().hex[:6]}"
    admin, lms_key = client_for(school, "admin"), client_for(school, "lms", acting="staff:registrar")
    program_id = create_programme(admin, capacity_ug=5)
    lms = platforms(issuer=f"https://{school}.lms.edu")
    register(system, admin, lms)
    # the student's first launch makes the Praxis person the LMS user is; they apply as that person
    person = browser_launch(system, lms, "stu-ags", [LEARNER]).get(f"{system.base_url}/lti/session",
                                                                   timeout=10).json()["acting"]["id"]
    assert person != "stu-ags"
    score(admin, apply(lms_key, program_id, person)["id"], 90)
    select(admin, program_id)
    question = {"id": "q1", "kind": "true_false", "text": "Idle accounts are reclaimed", "answer": True}
    eventually(lambda: admin.post(f"{API}/programs/{program_id}/question-bank",
                                  json={"questions": [question]}).status_code == 201, timeout=30)
    opened = datetime.now(timezone.utc) - timedelta(minutes=1)
    quiz = admin.post(f"{API}/programs/{program_id}/assessments", json={
        "kind": "quiz", "title": "Rules", "module": "rules", "opens_at": opened.isoformat(),
        "deadline": (opened + timedelta(days=2)).isoformat(), "max_attempts": 1, "quiz": {"question_ids": ["q1"]}})
    assert quiz.status_code == 201, quiz.text
    quiz_id = quiz.json()["id"]

    student = browser_launch(system, lms, "stu-ags", [LEARNER], custom={"praxis_target": f"assessment:{quiz_id}"},
                             lineitem="li-quiz")
    assert student.page.endswith(f"/lti/app/assessments/{quiz_id}")
    assert student.get(f"{system.base_url}/lti/session", timeout=10).json()["acting"]["id"] == person  # relaunch
    paper = eventually(lambda: (lambda r: r.json() if r.status_code == 200 else None)(
        student.get(f"{system.base_url}{API}/assessments/{quiz_id}/paper", timeout=30)), timeout=30)
    sent = student.post(f"{system.base_url}{API}/assessments/{quiz_id}/submissions", timeout=30,
                        headers={"X-CSRF-Token": student.csrf},
                        json={"attempt": paper["attempt"], "answers": {"q1": True}})
    assert sent.status_code == 201, sent.text
    eventually(lambda: lms.scores, timeout=60)
    [(lineitem, posted)] = lms.scores
    assert lineitem == "li-quiz" and posted["userId"] == "stu-ags" and posted["scoreGiven"] == 100.0
    [post] = admin.get(f"{API}/lti/grade-posts", params={"status": "posted"}).json()["items"]
    # the grade of the Praxis student went to the LMS for the LMS user id
    assert post["assessment_id"] == quiz_id and post["student_id"] == person
