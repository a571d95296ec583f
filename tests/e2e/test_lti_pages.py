"""The pages an LTI launch opens show the school's real data, through the running
system: a session's check-in (a student signs in with the code; staff see the code
and the live count), a quiz (the paper, handed in, the score), a student's credits
and badges, the staff home and the programme's dashboard (staff's and administrators'); and the instructor's
deep-linking picker offers assessments, which come back as links with a line item.

What a page's button does is the API call its script makes with the launch
session (cookie + X-CSRF-Token): the tests make that same call."""
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlparse

from tests.e2e.test_content import API, admit, create_session, make_school, open_window
from tests.e2e.test_lti_webhooks import browser_launch, register
from tests.lti_platform import ADMINISTRATOR, INSTRUCTOR, LEARNER, platforms  # noqa: F401  (fixture)
from tests.waiting import eventually

QUESTION = {"id": "q1", "kind": "true_false", "text": "Idle platform accounts are reclaimed", "answer": True}


def _quiz(school):
    eventually(lambda: school.admin.post(f"{API}/programs/{school.program_id}/question-bank",
                                         json={"questions": [QUESTION]}).status_code == 201, timeout=30)
    opened = datetime.now(timezone.utc) - timedelta(minutes=1)
    quiz = school.admin.post(f"{API}/programs/{school.program_id}/assessments", json={
        "kind": "quiz", "title": "Rules of the cup", "module": "rules", "opens_at": opened.isoformat(),
        "deadline": (opened + timedelta(days=2)).isoformat(), "max_attempts": 1, "quiz": {"question_ids": ["q1"]}})
    assert quiz.status_code == 201, quiz.text
    return quiz.json()


def _same_numbers(browser, program_id):
    """The API's report and funnel (read with the launch session) and the dashboard page,
    once the page shows the same numbers (events still arriving change them between reads)."""
    report = browser.call("GET", f"/programs/{program_id}/report").json()
    funnel = browser.call("GET", f"/programs/{program_id}/funnel").json()
    page = browser.page(f"/lti/app/programs/{program_id}/dashboard")
    shown = all(f'id="stage-{stage}">{count}<' in page for stage, count in funnel["stages"].items()
                if count is not None)
    attended = {row["title"]: row["attended"] for row in report["sessions"]}
    if (shown and funnel["stages"] == report["funnel"]["stages"] and attended.get("Listing workshop") == 1
            and '<td>Listing workshop</td><td class="n">1<' in page):
        return report, page
    return None


class Launched:
    """A browser that opened Praxis from the LMS, at the page the launch named."""

    def __init__(self, system, platform, user, roles, **claims):
        self.base = system.base_url
        self.browser = browser_launch(system, platform, user, roles, **claims)
        self.me = self.browser.get(f"{self.base}/lti/session", timeout=10).json()

    def page(self, path=None):
        response = self.browser.get(self.base + (path or self.browser.page), timeout=30)
        assert response.status_code == 200, response.text
        return response.text

    def call(self, method, path, **kwargs):
        return self.browser.request(method, f"{self.base}{API}{path}", timeout=30,
                                    headers={"X-CSRF-Token": self.browser.csrf}, **kwargs)


def test_the_pages_a_launch_opens_show_the_schools_real_data(system, client_for, platforms):
    school = make_school(client_for, system)
    lms = platforms(issuer=f"https://{school.name}.lms.edu")
    register(system, school.admin, lms)
    first = Launched(system, lms, "stu-pages", [LEARNER])
    person = first.me["acting"]["id"]
    assert first.browser.page.endswith(f"/lti/app/students/{person}/credits")
    admit(school, [person])
    badge = school.admin.post(f"{API}/programs/{school.program_id}/badges", json={
        "key": "first-credits", "name": "First credits", "description": "Earned credits in the cup",
        "criteria": "Earn 5 lifetime credits", "condition": {"kind": "lifetime_at_least", "at_least": 5}})
    assert badge.status_code == 201, badge.text
    session = create_session(school, school.admin, title="Listing workshop")
    open_window(school, session["id"])
    target = {"praxis_target": f"session:{session['id']}"}

    # staff: the code to show and the live count
    teacher = Launched(system, lms, "teacher-pages", [INSTRUCTOR], custom=target)
    assert teacher.browser.page.endswith(f"/lti/app/sessions/{session['id']}")
    staff_page = teacher.page()
    code = re.search(r'id="code">(\d{6})<', staff_page).group(1)
    assert "Listing workshop" in staff_page and 'id="signed-in-count">0<' in staff_page
    assert re.search(r'id="expected">[1-9]', staff_page)
    closed = teacher.page(f"/lti/app/sessions/{school.probe['id']}")  # no window: a button opens one
    assert 'id="no-window"' in closed and 'id="open-window"' in closed and 'id="code"' not in closed

    # the student: the check-in page, and its sign-in button's call as the student
    student = Launched(system, lms, "stu-pages", [LEARNER], custom=target)
    assert student.me["acting"]["id"] == person and student.browser.page.endswith("/checkin")
    checkin_page = student.page()
    assert "Check in: Listing workshop" in checkin_page and 'id="sign-in-button"' in checkin_page
    assert f'data-person="student:{person}"' in checkin_page
    signed = student.call("POST", f"/sessions/{session['id']}/sign-ins", json={"student_id": person, "code": code})
    assert signed.status_code == 201, signed.text
    eventually(lambda: 'id="signed-in-count">1<' in teacher.page(), timeout=30)
    assert student.browser.get(f"{student.base}/lti/app/sessions/{session['id']}", allow_redirects=False,
                               timeout=10).headers["Location"].endswith("/checkin")  # the code is staff's

    # a quiz: the paper, handed in from the page, then the score on it
    quiz = _quiz(school)
    taker = Launched(system, lms, "stu-pages", [LEARNER], custom={"praxis_target": f"assessment:{quiz['id']}"})
    paper_page = eventually(lambda: (lambda text: text if 'id="paper"' in text else None)(taker.page()), timeout=30)
    assert "Idle platform accounts are reclaimed" in paper_page and "Rules of the cup" in paper_page
    attempt = int(re.search(r'data-attempt="(\d+)"', paper_page).group(1))
    handed = taker.call("POST", f"/assessments/{quiz['id']}/submissions", json={"attempt": attempt,
                                                                              "answers": {"q1": True}})
    assert handed.status_code == 201, handed.text
    after = taker.page()
    assert re.search(r'class="n score">[\d.]+ / [\d.]+ \(100\.0%\)', after) and 'id="paper"' not in after

    # the student's credits (the programme's rules reward the attendance and the quiz) and badges;
    # another student's are not theirs
    ledger = eventually(lambda: (lambda found: found if len(found["entries"]) == 2 else None)(
        first.call("GET", f"/students/{person}/credits").json()), timeout=60)  # present, quiz passed
    eventually(lambda: first.call("GET", f"/students/{person}/badges").json()["items"], timeout=60)
    credits_page = first.page(f"/lti/app/students/{person}/credits")
    [balance] = ledger["balances"]
    assert f'class="n spendable">{balance["spendable"]}<' in credits_page and balance["spendable"] > 0
    assert all(entry["reason"] in credits_page for entry in ledger["entries"])
    assert "Platinum Cup 2026" in credits_page and "<li>first-credits" in credits_page
    assert first.browser.get(f"{first.base}/lti/app/students/someone-else/credits", timeout=10).status_code == 404

    # staff: the home lists the programme with its session and quiz, and its dashboard, which shows
    # the numbers the API answers the same launch session (the LMS acting for staff); a Learner
    # gets neither the page nor the API's report
    home = teacher.page("/lti/app/dashboard")
    assert "Platinum Cup 2026" in home and "Listing workshop" in home and "Rules of the cup" in home
    dashboard_path = f"/lti/app/programs/{school.program_id}/dashboard"
    assert 'class="dashboard"' in home and dashboard_path in home
    assert teacher.call("GET", f"/programs/{school.program_id}/report").status_code == 200
    report, dashboard = eventually(lambda: _same_numbers(teacher, school.program_id), timeout=60)
    assert re.search(r'id="title">Platinum Cup 2026', dashboard) and "data.json" in dashboard
    assert report["funnel"]["stages"]["admitted"] >= 1
    numbers = teacher.browser.get(f"{teacher.base}/lti/app/programs/{school.program_id}/data.json", timeout=30).json()
    assert numbers["program_id"] == school.program_id and numbers["funnel"]["name"] == "Platinum Cup 2026"
    assert first.browser.get(first.base + dashboard_path, timeout=10).status_code == 403
    assert first.call("GET", f"/programs/{school.program_id}/report").status_code == 403
    assert 'class="dashboard"' not in first.page(f"/lti/app/programs/{school.program_id}")
    dean = Launched(system, lms, "dean-pages", [ADMINISTRATOR])
    assert dean.browser.page.endswith("/lti/app/dashboard") and dashboard_path in dean.page()
    numbers = dean.browser.get(f"{dean.base}/lti/app/programs/{school.program_id}/data.json", timeout=30).json()
    assert numbers["program_id"] == school.program_id and numbers["funnel"]["name"] == "Platinum Cup 2026"

def test_the_deep_linking_picker_offers_assessments_that_come_back_as_links_with_a_line_item(
        system, client_for, platforms):
    school = make_school(client_for, system)
    quiz = _quiz(school)
    lms = platforms(issuer=f"https://{school.name}.lms.edu")
    register(system, school.admin, lms)
    teacher = Launched(system, lms, "teacher-dl", [INSTRUCTOR], deep_linking=True)
    picker = teacher.page()
    box = re.search(r'<input type="checkbox" data-kind="assessment" value="{}" data-title="([^"]+)" '
                    r'data-score-maximum="(\d+)">'.format(quiz["id"]), picker)
    assert box, picker
    launch_id = dict(parse_qsl(urlparse(teacher.browser.page).query))["launch"]
    # what the picker's script sends for a ticked assessment
    answer = teacher.browser.post(f"{teacher.base}/lti/deep-linking", headers={"X-CSRF-Token": teacher.browser.csrf},
                                  timeout=30, json={"launch_id": launch_id, "items": [
                                      {"kind": "assessment", "id": quiz["id"], "title": box.group(1),
                                       "score_maximum": int(box.group(2))}]})
    assert answer.status_code == 200, answer.text
    response_jwt = re.search(r'name="JWT" value="([^"]+)"', answer.text).group(1)
    [item] = lms.validate_deep_linking_response(response_jwt)  # signed with the school's key
    assert item["type"] == "ltiResourceLink" and item["custom"] == {"praxis_target": f"assessment:{quiz['id']}"}
    assert item["title"] == "Platinum Cup 2026: Rules of the cup"
    assert item["lineItem"]["scoreMaximum"] == 100 and item["lineItem"]["resourceId"] == quiz["id"]
