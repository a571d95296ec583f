"""The staff dashboard in a real browser (Debian's chromium and chromium-driver,
driven by Selenium): the numbers on the page equal the API's, the page updates by
itself after new sign-ins, and the run saves a screenshot under var/test-output."""
import shutil
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.e2e.enrollment_helpers import apply, create_programme, score, select
from tests.waiting import eventually

API = "/api/v1"
OUTPUT = Path(__file__).resolve().parents[2] / "var" / "test-output"


@pytest.fixture
def browser():
    driver_path = shutil.which("chromedriver")
    chromium = shutil.which("chromium")
    if not driver_path or not chromium:
        pytest.skip("chromium and chromium-driver are not installed (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def sign_in_students(admin, lms, session_id, students):
    for student in students:
        code = admin.get(f"{API}/sessions/{session_id}/checkin-code").json()["code"]
        response = lms.post(f"{API}/sessions/{session_id}/sign-ins", json={"student_id": student, "code": code},
                            headers={"X-Acting-User": f"student:{student}"})
        assert response.status_code in (200, 201), response.text


def page_stages(browser):
    from selenium.webdriver.common.by import By
    stages = {}
    for stage in ("registered", "admitted", "trained", "active", "submitting", "finished"):
        text = browser.find_element(By.ID, f"stage-{stage}").text
        stages[stage] = int(text) if text.isdigit() else None
    return stages


def test_the_dashboard_shows_the_apis_numbers_and_follows_new_sign_ins(client_for, system, browser):
    from selenium.webdriver.common.by import By
    school = f"dash-{uuid.uuid4().hex[:6]}"
    admin, lms = client_for(school, "admin"), client_for(school, "lms", acting="staff:registrar")
    program_id = create_programme(admin, capacity_ug=4)
    students = ["d1", "d2", "d3", "d4", "d5"]
    for n, student in enumerate(students):
        score(admin, apply(lms, program_id, student)["id"], 90 - n)
    select(admin, program_id)
    start = datetime.now(timezone.utc)
    session = admin.post(f"{API}/programs/{program_id}/sessions", json={
        "title": "Store operations", "module": "store", "form": "offline_lecture", "place": "Room 1",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "instructor": {"id": "teacher-li", "kind": "teacher"}}).json()
    admin.post(f"{API}/sessions/{session['id']}/checkin-window", json={"minutes": 30, "period_seconds": 30})
    sign_in_students(admin, lms, session["id"], ["d1"])

    def api_stages(trained):
        stages = admin.get(f"{API}/programs/{program_id}/funnel").json()["stages"]
        return stages if stages["trained"] == trained and stages["admitted"] == 4 else None
    expected = eventually(lambda: api_stages(1), timeout=60)

    # a key is not needed to open a signed link; without one, the page asks to sign in
    browser.get(f"{system.base_url}/dashboard/programs/{program_id}")
    assert "/dashboard/sign-in" in browser.current_url
    link = admin.post(f"{API}/programs/{program_id}/dashboard-link").json()["url"]
    browser.get(f"{system.base_url}{link}&refresh=1")
    assert browser.find_element(By.ID, "title").text.startswith("Cup ")
    assert page_stages(browser) == expected
    assert browser.find_element(By.ID, "stage-submitting").text == "not tracked yet"
    assert browser.find_elements(By.CSS_SELECTOR, "#funnel-chart svg"), "the funnel chart is drawn"

    sign_in_students(admin, lms, session["id"], ["d2", "d3"])
    expected = eventually(lambda: api_stages(3), timeout=60)
    shown = eventually(lambda: (lambda s: s if s == expected else None)(page_stages(browser)), timeout=30)
    assert shown == expected
    attended = browser.find_element(By.CSS_SELECTOR, "#sessions tbody tr td:nth-child(2)").text
    assert attended == "3"

    # the funnel chart follows too: a bar per stage with students (registered, admitted, trained)
    bars = "return Array.from(document.querySelectorAll('#funnel-chart rect.bar'))" \
           ".filter(r => parseFloat(r.getAttribute('height')) > 0).length"
    eventually(lambda: browser.execute_script(bars) == 3, timeout=10)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / f"dashboard-{time.strftime('%Y%m%d-%H%M%S')}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 0


def test_a_dashboard_session_needs_an_admin_key(system, client_for):
    import requests
    admin = client_for(f"dash-{uuid.uuid4().hex[:6]}", "admin")
    session = requests.Session()
    refused = session.post(f"{system.base_url}/dashboard/sign-in", data={"key": "prx_nope_nope"})
    assert refused.status_code == 401
    key = admin.session.headers["Authorization"].split(" ", 1)[1]
    program_id = create_programme(admin)
    signed = session.post(f"{system.base_url}/dashboard/sign-in",
                          data={"key": key, "next": f"/dashboard/programs/{program_id}"})
    assert signed.status_code == 200 and "Funnel" in signed.text
    data = session.get(f"{system.base_url}/dashboard/programs/{program_id}/data.json")
    assert data.status_code == 200 and data.json()["funnel"]["program_id"] == program_id
    forged = requests.get(f"{system.base_url}/dashboard/programs/{program_id}?key=x&exp=9999999999&sig=00")
    assert forged.status_code == 403
