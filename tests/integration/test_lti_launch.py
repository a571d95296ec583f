"""LTI 1.3 launches into Praxis, with the LMS played by lti1p3platform
(tests/lti_platform.py) and the gateway on the real database server.

The browser is the Flask test client (it keeps the state and session cookies);
the platform's JWKS and token endpoint answer over real HTTP on the loopback.
"""
import base64
import json
import logging
import re
import time
from urllib.parse import parse_qsl, urlencode, urlparse

import jwt
import pytest
from mongoengine.connection import get_db

from gateway import create_app
from services.common.logs import JsonFormatter
from tests.integration.lti_helpers import app, lms, platforms, webhooks  # noqa: F401  (fixtures)
from tests.integration.lti_helpers import admin_headers, launch, register, start, whoami
from tests.lti_platform import ADMINISTRATOR, INSTRUCTOR, LEARNER, MENTOR, TEACHING_ASSISTANT, rsa_pair


# --- launches that open Praxis ----------------------------------------------------

def test_a_learner_launch_opens_the_link_target_as_that_student_of_the_platforms_school(app, lms):
    browser = app.test_client()
    response, _ = launch(browser, lms, "lms-user-42", [LEARNER], custom={"praxis_target": "session:s123"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/lti/app/sessions/s123/checkin")
    me = whoami(browser)
    assert me["school_id"] == "jufe" and me["role"] == "lms" and me["lti_role"] == "student"
    # the LMS user is a Praxis person of the school, not the LMS's id
    assert me["acting"]["kind"] == "student" and me["lms_user_id"] == "lms-user-42"
    assert me["acting"]["id"].startswith("lti-") and me["acting"]["id"] != "lms-user-42"
    # (the pages themselves, with the services' data: tests/e2e/test_lti_pages.py)


def test_an_lms_user_is_one_praxis_person_per_platform_and_the_same_on_every_launch(app, lms, platforms):
    other = platforms(issuer="https://lms.other.edu", client_id="praxis-b", deployment_id="b-1")
    register(app, other)  # a second LMS of the same school, whose user ids overlap the first's
    first, again, elsewhere = app.test_client(), app.test_client(), app.test_client()
    launch(first, lms, "u-7", [LEARNER])
    launch(again, lms, "u-7", [LEARNER])
    launch(elsewhere, other, "u-7", [LEARNER])
    person = whoami(first)["acting"]["id"]
    assert whoami(again)["acting"]["id"] == person  # a relaunch is the same person
    assert whoami(elsewhere)["acting"]["id"] != person  # the other LMS's "u-7" is someone else
    assert {whoami(b)["lms_user_id"] for b in (first, again, elsewhere)} == {"u-7"}
    # an instructor on the first LMS with the same user id is that same person (one id per LMS user)
    teacher = app.test_client()
    launch(teacher, lms, "u-7", [INSTRUCTOR])
    assert whoami(teacher)["acting"] == {"kind": "staff", "id": person}


@pytest.mark.parametrize("roles, lti_role, role, kind, page", [
    ([INSTRUCTOR], "staff", "lms", "staff", "/lti/app/dashboard"),
    ([TEACHING_ASSISTANT], "staff", "lms", "staff", "/lti/app/dashboard"),
    ([ADMINISTRATOR], "admin", "admin", "staff", "/lti/app/dashboard"),
    ([ADMINISTRATOR, LEARNER], "student", "lms", "student", "/lti/app/students/{me}/credits"),
])
def test_lti_roles_map_onto_praxis_roles_and_a_learner_is_never_more(app, lms, roles, lti_role, role, kind, page):
    browser = app.test_client()
    response, _ = launch(browser, lms, "u1", roles)
    me = whoami(browser)
    assert response.status_code == 302 and response.headers["Location"].endswith(page.format(me=me["acting"]["id"]))
    assert (me["lti_role"], me["role"], me["acting"]["kind"]) == (lti_role, role, kind)


def test_a_launch_with_no_role_praxis_admits_is_refused(app, lms):
    response, _ = launch(app.test_client(), lms, "u1", [MENTOR])
    assert response.status_code == 403 and "roles" in response.get_json()["detail"]


def test_the_launch_session_is_honoured_by_the_api_with_its_role_and_csrf_token(app, lms):
    admin = app.test_client()
    launch(admin, lms, "dean-1", [ADMINISTRATOR])
    listed = admin.get("/api/v1/lti/platforms")
    assert listed.status_code == 200 and [p["id"] for p in listed.get_json()["items"]] == [lms.registered["id"]]
    # a browser sends cookies on its own: a change needs the session's CSRF token
    refused = admin.post("/api/v1/lti/keys/rotation", json={})
    assert refused.status_code == 403
    rotated = admin.post("/api/v1/lti/keys/rotation", json={}, headers={"X-CSRF-Token": whoami(admin)["csrf"]})
    assert rotated.status_code == 201
    student = app.test_client()
    launch(student, lms, "s1", [LEARNER])
    assert student.get("/api/v1/lti/platforms").status_code == 403
    assert student.get("/lti/app/dashboard").status_code == 403
    assert app.test_client().get("/lti/app/dashboard").status_code == 401


# --- launches that are refused ------------------------------------------------------

def _detail(response):
    return response.get_json()["detail"]


def test_a_replayed_id_token_is_refused(app, lms):
    browser = app.test_client()
    first, form = launch(browser, lms, "u1", [LEARNER])
    assert first.status_code == 302
    replay = browser.post("/lti/launch", data=form)
    assert replay.status_code == 401 and "nonce" in _detail(replay)
    elsewhere = app.test_client()  # another browser, without the state cookie
    assert elsewhere.post("/lti/launch", data=form).status_code in (400, 401)


def test_a_learner_who_edits_the_token_to_claim_instructor_is_refused(app, lms):
    browser = app.test_client()
    message, auth = start(browser, lms, "u1", [LEARNER])
    form = lms.sign(message)
    header, payload, signature = form["id_token"].split(".")
    claims = jwt.decode(form["id_token"], options={"verify_signature": False})
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [INSTRUCTOR]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = browser.post("/lti/launch", data={"state": form["state"],
                                                 "id_token": f"{header}.{forged_payload}.{signature}"})
    assert tampered.status_code == 401 and "signature" in _detail(tampered)
    # signed with a key of the learner's own, under the platform's kid
    other_private, _ = rsa_pair()
    forged = browser.post("/lti/launch", data={"state": form["state"],
                                               "id_token": lms.sign_claims(claims, key=other_private)})
    assert forged.status_code == 401 and "signature" in _detail(forged)
    # the nonce survived both forgeries: the genuine token still opens Praxis, as a student
    genuine = browser.post("/lti/launch", data=form)
    assert genuine.status_code == 302 and whoami(browser)["lti_role"] == "student"


def test_a_token_for_another_audience_is_refused(app, lms):
    browser = app.test_client()
    message, auth = start(browser, lms, "u1", [INSTRUCTOR])
    claims = dict(lms.claims_of(message), aud="some-other-tool", azp="some-other-tool")
    response = browser.post("/lti/launch", data={"state": auth["state"], "id_token": lms.sign_claims(claims)})
    assert response.status_code == 401 and "audience" in _detail(response)


def test_an_expired_token_is_refused(app, lms):
    browser = app.test_client()
    message, auth = start(browser, lms, "u1", [INSTRUCTOR])
    now = int(time.time())
    claims = dict(lms.claims_of(message), iat=now - 900, exp=now - 600)
    response = browser.post("/lti/launch", data={"state": auth["state"], "id_token": lms.sign_claims(claims)})
    assert response.status_code == 401 and "expired" in _detail(response)


def test_a_token_without_expiry_is_refused(app, lms):
    browser = app.test_client()
    message, auth = start(browser, lms, "u1", [INSTRUCTOR])
    claims = lms.claims_of(message)
    del claims["exp"]
    response = browser.post("/lti/launch", data={"state": auth["state"], "id_token": lms.sign_claims(claims)})
    assert response.status_code == 401 and "exp" in _detail(response)


def test_an_unknown_deployment_is_refused(app, lms):
    browser = app.test_client()
    message, auth = start(browser, lms, "u1", [INSTRUCTOR])
    claims = dict(lms.claims_of(message), **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "dep-9"})
    response = browser.post("/lti/launch", data={"state": auth["state"], "id_token": lms.sign_claims(claims)})
    assert response.status_code == 403 and "dep-9" in _detail(response)


def test_a_launch_without_the_state_cookie_is_refused(app, lms):
    message, _ = start(app.test_client(), lms, "u1", [LEARNER])
    response = app.test_client().post("/lti/launch", data=lms.sign(message))
    assert response.status_code == 400 and "State" in _detail(response)


# --- schools apart --------------------------------------------------------------------

def test_another_schools_platform_can_neither_take_nor_launch_into_this_schools_registration(app, lms, platforms):
    # the same issuer and client id cannot be registered by a second school
    taken = app.test_client().post("/api/v1/lti/platforms", json=lms.registration_body(),
                                   headers=admin_headers("other-school"))
    assert taken.status_code == 409
    # school B's LMS (its own keys) signs a token naming school A's registration
    other = platforms(issuer="https://lms.other.edu", client_id="praxis-b", deployment_id="b-1")
    register(app, other, school="other-school")
    browser = app.test_client()
    message, auth = start(browser, lms, "intruder", [ADMINISTRATOR])
    claims = lms.claims_of(message)
    response = browser.post("/lti/launch", data={"state": auth["state"],
                                                 "id_token": other.sign_claims(claims, key=other.private_pem)})
    assert response.status_code == 401
    # B's own launches land in school B, and B's staff cannot see A's registration
    b_browser = app.test_client()
    assert launch(b_browser, other, "b-dean", [ADMINISTRATOR])[0].status_code == 302
    assert whoami(b_browser)["school_id"] == "other-school"
    assert b_browser.get(f"/api/v1/lti/platforms/{lms.registered['id']}").status_code == 404


def test_a_deleted_registration_launches_no_more_and_its_sessions_stop(app, lms, monkeypatch):
    monkeypatch.setattr("gateway.lti.session._CACHE_SECONDS", 0)
    monkeypatch.setattr("gateway.lti.session._platforms", {})
    admin = app.test_client()
    launch(admin, lms, "dean-1", [ADMINISTRATOR])
    assert admin.get("/api/v1/lti/platforms").status_code == 200
    headers = admin_headers("jufe")
    assert app.test_client().delete(f"/api/v1/lti/platforms/{lms.registered['id']}",
                                    headers=headers).status_code == 204
    response = app.test_client().get("/lti/login?" + urlencode(lms.login_initiation_params("u1")))
    assert response.status_code == 400 and "registration" in _detail(response)
    assert admin.get("/api/v1/lti/platforms").status_code == 401


# --- registration, keys and deep linking ------------------------------------------------

def test_registration_requires_https_endpoints_in_production(app, platforms, monkeypatch):
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "0")
    platform = platforms()
    response = app.test_client().post("/api/v1/lti/platforms", json=platform.registration_body(),
                                      headers=admin_headers("jufe"))
    assert response.status_code == 422 and "key_set_url" in response.get_json()["errors"]


def test_a_rotated_key_signs_from_now_on_while_the_old_one_stays_published(app, lms):
    headers = admin_headers("jufe")
    jwks_path = urlparse(lms.registered["tool"]["jwks_url"]).path
    before = app.test_client().get(jwks_path).get_json()["keys"]
    rotated = app.test_client().post("/api/v1/lti/keys/rotation", json={"overlap_hours": 24}, headers=headers)
    assert rotated.status_code == 201
    after = app.test_client().get(jwks_path).get_json()["keys"]
    assert [k["kid"] for k in after] == [before[0]["kid"], rotated.get_json()["kid"]]
    listed = app.test_client().get("/api/v1/lti/keys", headers=headers).get_json()["items"]
    assert listed[0]["retires_at"] is not None and listed[1]["retires_at"] is None


def test_deep_linking_returns_signed_resource_links_that_launch_into_their_targets(app, lms):
    browser = app.test_client()
    response, _ = launch(browser, lms, "teacher-1", [INSTRUCTOR], deep_linking=True)
    assert response.status_code == 302 and "/lti/app/deep-linking?launch=" in response.headers["Location"]
    launch_id = dict(parse_qsl(urlparse(response.headers["Location"]).query))["launch"]
    csrf = {"X-CSRF-Token": whoami(browser)["csrf"]}
    picks = {"launch_id": launch_id, "items": [
        {"kind": "session", "id": "s77", "title": "Live: Amazon listings"},
        {"kind": "assessment", "id": "a5", "title": "Homework 1", "score_maximum": 20}]}
    answer = browser.post("/lti/deep-linking", json=picks, headers=csrf)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert f'action="{lms.base}/deep-link-return"' in html
    response_jwt = re.search(r'name="JWT" value="([^"]+)"', html).group(1)
    items = lms.validate_deep_linking_response(response_jwt)  # the platform checks Praxis's signature
    assert [i["custom"]["praxis_target"] for i in items] == ["session:s77", "assessment:a5"]
    assert items[1]["lineItem"]["scoreMaximum"] == 20 and "lineItem" not in items[0]
    # the LMS now launches the link it made: the instructor lands on the session
    teacher = app.test_client()
    opened, _ = launch(teacher, lms, "teacher-1", [INSTRUCTOR], custom=items[0]["custom"])
    assert opened.headers["Location"].endswith("/lti/app/sessions/s77")
    # a student cannot deep link, and a deep-linking answer needs the session's own launch
    student = app.test_client()
    refused, _ = launch(student, lms, "s1", [LEARNER], deep_linking=True)
    assert refused.status_code == 403
    other_teacher = app.test_client()
    launch(other_teacher, lms, "teacher-2", [INSTRUCTOR])
    stolen = other_teacher.post("/lti/deep-linking", json=picks,
                                headers={"X-CSRF-Token": whoami(other_teacher)["csrf"]})
    assert stolen.status_code == 404


def test_every_launch_is_logged_with_platform_user_and_outcome_and_never_the_token(app, lms, caplog):
    caplog.set_level(logging.INFO, logger="praxis.lti")
    browser = app.test_client()
    _, form = launch(browser, lms, "u1", [LEARNER])
    browser.post("/lti/launch", data=form)  # a replay, refused
    launches = [r for r in caplog.records if r.name == "praxis.lti" and "launch" in r.getMessage()]
    assert [(r.outcome, r.user) for r in launches] == [("accepted", "u1"), ("refused", "u1")]
    assert launches[0].platform_id == lms.registered["id"] and launches[1].issuer == lms.issuer
    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert not any(form["id_token"] in line or form["id_token"].split(".")[2] in line for line in lines)


def test_with_a_secret_key_set_the_schools_private_key_is_stored_encrypted_and_still_signs(app, platforms,
                                                                                            monkeypatch):
    monkeypatch.setenv("PRAXIS_SECRET_KEY", "a-long-random-secret-of-this-deployment")
    platform = platforms(issuer="https://lms.sealed.edu", client_id="praxis-sealed")
    register(app, platform, school="sealed-school")
    [stored] = get_db("webhooks").lti_keys.find_one({"_id": "sealed-school"})["keys"]  # the LTI store's
    assert stored["private_pem"].startswith("fernet:") and "PRIVATE KEY" not in stored["private_pem"]
    browser = app.test_client()
    response, _ = launch(browser, platform, "teacher-1", [INSTRUCTOR], deep_linking=True)
    launch_id = dict(parse_qsl(urlparse(response.headers["Location"]).query))["launch"]
    answer = browser.post("/lti/deep-linking", headers={"X-CSRF-Token": whoami(browser)["csrf"]},
                          json={"launch_id": launch_id, "items": [{"kind": "program", "id": "p1", "title": "Cup"}]})
    response_jwt = re.search(r'name="JWT" value="([^"]+)"', answer.get_data(as_text=True)).group(1)
    assert platform.validate_deep_linking_response(response_jwt)[0]["custom"] == {"praxis_target": "program:p1"}


def test_a_launch_while_the_lti_store_does_not_answer_is_a_503_to_retry_not_a_500(lms, webhooks, monkeypatch):
    monkeypatch.setenv("PRAXIS_RPC_TIMEOUT", "2")
    gateway = create_app()  # with the short deadline
    webhooks.stop()  # the service that owns the registrations is away
    response = gateway.test_client().get("/lti/login?" + urlencode(lms.login_initiation_params("u1")))
    assert response.status_code == 503 and response.headers.get("Retry-After")
