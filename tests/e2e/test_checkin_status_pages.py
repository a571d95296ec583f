"""The check-in status of a large session comes as counts and pages: every student
is in exactly one page of the list they belong to, and the counts are whole."""
from tests.e2e.test_content import API, admit, code_of, create_session, make_school, open_window, student

STUDENTS = [f"page-{n:02d}" for n in range(7)]


def test_the_check_in_status_answers_whole_counts_and_pages_that_cover_everyone_once(client_for, system):
    school = make_school(client_for, system)
    admit(school, STUDENTS)
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    code = code_of(school, session["id"])
    signed = STUDENTS[:3]
    for n, student_id in enumerate(signed):
        # the first two share a phone: both get flagged
        response = student(school, student_id).post(f"{API}/sessions/{session['id']}/sign-ins", json={
            "student_id": student_id, "code": code, "device_id": "shared-phone" if n < 2 else f"phone-{n}"})
        assert response.status_code == 201, response.text

    url = f"{API}/sessions/{session['id']}/checkin-status"
    pages, offset = [], 0
    while True:
        page = school.admin.get(url, params={"limit": 2, "offset": offset}).json()
        pages.append(page)
        assert len(page["signed_in"]) <= 2 and len(page["not_signed_in"]) <= 2 and len(page["flagged"]) <= 2
        if not page["has_more"]:
            break
        offset += 2
    assert all(p["expected"] == len(STUDENTS) and p["signed_in_count"] == 3 and p["flagged_count"] == 2
               for p in pages)
    seen_signed = [s for p in pages for s in p["signed_in"]]
    seen_missing = [s for p in pages for s in p["not_signed_in"]]
    assert sorted(seen_signed) == signed
    assert sorted(seen_missing) == STUDENTS[3:]
    assert sorted(s for p in pages for s in p["flagged"]) == signed[:2]

    whole = school.admin.get(url).json()  # one page holds a small session whole
    assert (whole["signed_in"], whole["not_signed_in"], whole["flagged"], whole["has_more"]) == (
        signed, STUDENTS[3:], signed[:2], False)
    assert school.admin.get(url, params={"limit": 0}).status_code == 422
