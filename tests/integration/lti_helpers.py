"""Fixtures and steps shared by the LTI tests: the gateway app on the real
database server and broker, with the webhooks service (it owns the LTI store the
gateway reaches by RPC), platforms played by lti1p3platform (tests/lti_platform.py),
and the browser's steps of a launch (the Flask test client keeps the cookies)."""
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest

from gateway import create_app, db as gateway_db
from gateway.auth import create_key
from services.webhooks.service import WebhooksService
from tests.lti_platform import platforms  # noqa: F401  (a fixture, re-exported)


@pytest.fixture
def webhooks(container_factory, rabbit_config):
    """The webhooks service: the LTI store, grade passback and roster sync."""
    container = container_factory(WebhooksService, rabbit_config)
    container.start()
    return container


@pytest.fixture
def app(monkeypatch, webhooks):
    monkeypatch.setenv("PRAXIS_JSON_LOGS", "0")
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "1")
    monkeypatch.setenv("PRAXIS_PUBLIC_URL", "http://praxis.test")
    gateway_db.reset()
    yield create_app()
    gateway_db.reset()


def admin_headers(school):
    return {"Authorization": f"Bearer {create_key(school, 'admin')}"}


def register(app, platform, school="jufe", **overrides):
    client = app.test_client()
    response = client.post("/api/v1/lti/platforms", json=platform.registration_body(**overrides),
                           headers=admin_headers(school))
    assert response.status_code == 201, response.get_json()
    registered = response.get_json()
    path = urlparse(registered["tool"]["jwks_url"]).path
    platform.tool_jwks_fetch = lambda: app.test_client().get(path).get_json()
    return registered


@pytest.fixture
def lms(app, platforms):
    platform = platforms()
    platform.registered = register(app, platform)
    return platform


def start(browser, platform, user, roles, **kwargs):
    """Login initiation and the platform's answer: the launch, not yet signed."""
    response = browser.get("/lti/login?" + urlencode(platform.login_initiation_params(user)))
    assert response.status_code == 302, response.get_data(as_text=True)
    auth = dict(parse_qsl(urlparse(response.headers["Location"]).query))
    assert auth["redirect_uri"] == "http://praxis.test/lti/launch" and auth["nonce"] and auth["state"]
    return platform.launch_message(auth, user, roles, **kwargs), auth


def launch(browser, platform, user, roles, **kwargs):
    message, _ = start(browser, platform, user, roles, **kwargs)
    form = platform.sign(message)
    return browser.post("/lti/launch", data=form), form


def whoami(browser):
    return browser.get("/lti/session").get_json()


