"""The LMS side of the LTI tests, played by PyPI ``lti1p3platform`` (an LTI 1.3
platform implementation independent of Praxis and of pylti1p3).

What the library gives: the platform registration and its key pair, the OIDC
login initiation URL, the id_token of a resource-link or deep-linking launch
(LTIAdvantageMessageLaunchAbstract), the validation of a tool's deep-linking
response and of its client-credentials assertion (LTI1P3PlatformConfAbstract).

What it lacks and this file adds, following the 1EdTech specs: an HTTP face (a
small http.server on the loopback address) serving the platform's JWKS
(LTI 1.3 / Security Framework section 6), its OAuth2 token endpoint (Security
Framework 4.1, client_credentials with a JWT assertion, answered by the library's
``get_access_token``), the AGS score endpoint of a line item (AGS 2.0 section
3.4: ``POST <lineitem>/scores``, media type application/vnd.ims.lis.v1.score+json,
bearer token checked by the library's ``validate_token`` for the score scope) and
the NRPS membership container (NRPS 2.0 section 2.2, one page). The
"authorization endpoint" step is a call in the test (the browser's redirect).
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
MEMBERSHIP_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
MENTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"


def rsa_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode(),
            private.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode())


class _Request(Request):
    def build_metadata(self, request):
        return {"method": "GET", "form_data": {}, "get_data": request, "headers": {},
                "content_type": None, "path": "/", "json": None}


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs):
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url):
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data, **kwargs):
        return launch_data


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs):
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs):
        return self._registration


class _Handler(BaseHTTPRequestHandler):
    platform = None

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="application/json"):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/jwks":
            return self._send(200, self.platform.conf.get_jwks())
        if self.path.startswith("/memberships"):
            if not self._authorized(MEMBERSHIP_SCOPE):
                return self._send(401, {"error": "invalid token"})
            return self._send(200, {"id": f"{self.platform.base}{self.path}",
                                    "context": {"id": "course-1", "title": "E-commerce practice"},
                                    "members": list(self.platform.members)},
                              "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
        return self._send(404, {"error": "not found"})

    def _authorized(self, scope):
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        try:
            return scheme.lower() == "bearer" and self.platform.conf.validate_token(token, [scope])
        except Exception:
            return False

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.path.startswith("/lineitems/") and self.path.endswith("/scores"):
            if not self._authorized(SCORE_SCOPE):
                return self._send(401, {"error": "invalid token"})
            if self.headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json":
                return self._send(415, {"error": "score media type expected"})
            with self.platform.lock:
                if self.platform.fail_scores > 0:
                    self.platform.fail_scores -= 1
                    return self._send(503, {"error": "try again"})
                self.platform.scores.append((self.path[len("/lineitems/"):-len("/scores")], json.loads(raw)))
            return self._send(200, b"", "text/plain")
        if self.path == "/token":
            try:
                self.platform.refresh_tool_keys()
                token = self.platform.conf.get_access_token(dict(parse_qsl(raw)))
            except Exception as exc:  # the spec's answer to a bad client assertion
                return self._send(400, {"error": "invalid_client", "error_description": str(exc)})
            self.platform.token_requests += 1
            return self._send(200, token)
        return self._send(404, {"error": "not found"})


class Platform:
    """One LMS (issuer) with one registration of Praxis (client id)."""

    def __init__(self, issuer="https://lms.example.edu", client_id="praxis-client", deployment_id="dep-1"):
        self.private_pem, self.public_pem = rsa_pair()
        self.issuer, self.client_id, self.deployment_id = issuer, client_id, deployment_id
        self.tool_jwks_fetch = None  # set by the test: how the platform reads Praxis's JWKS
        self.token_requests = 0
        self.lock = threading.Lock()
        self.scores = []  # (line item id, score) accepted
        self.fail_scores = 0  # answer 503 to this many score posts first
        self.members = []  # the course's membership (NRPS members)
        handler = type("Handler", (_Handler,), {"platform": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.registration = (Registration()
                             .set_iss(issuer).set_client_id(client_id).set_deployment_id(deployment_id)
                             .set_oidc_login_url("http://praxis.test/lti/login")
                             .set_launch_url("http://praxis.test/lti/launch")
                             .set_deeplink_launch_url("http://praxis.test/lti/launch")
                             .set_platform_public_key(self.public_pem)
                             .set_platform_private_key(self.private_pem))
        self.conf = PlatformConf(registration=self.registration)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def registration_body(self, **overrides):
        """What staff enter in Praxis for this LMS."""
        body = {"name": "Test LMS", "issuer": self.issuer, "client_id": self.client_id,
                "deployment_ids": [self.deployment_id], "auth_login_url": f"{self.base}/auth",
                "auth_token_url": f"{self.base}/token", "key_set_url": f"{self.base}/jwks"}
        body.update(overrides)
        return body

    def refresh_tool_keys(self):
        if self.tool_jwks_fetch is not None:
            self.registration.set_tool_key_set(self.tool_jwks_fetch())

    # --- the launch, step by step -------------------------------------------

    def login_initiation_params(self, user_id, hint="resource-link-1"):
        """Step 1: the third-party initiated login the platform sends the browser to."""
        login = _Login(None, self.conf)
        login.set_lti_message_hint(hint=hint)
        url = login.initiate_login(user_id)
        return dict(parse_qsl(urlparse(url).query))

    def launch_message(self, auth_params, user_id, roles, custom=None, deep_linking=False,
                       context_id="course-1", lineitem=None, memberships=False):
        """Step 2: the platform's auth endpoint answers the tool's auth request with an
        id_token. Returns ``(launch, state)`` before signing, so tests may alter claims."""
        launch = _Launch(_Request(auth_params), self.conf)
        launch._registration = self.registration
        launch.validate_preflight_response(auth_params)
        launch.set_user_data(user_id, roles, full_name=f"User {user_id}")
        launch.set_resource_link_claim("resource-link-1", title="Praxis")
        launch.set_launch_context_claim(context_id, context_title="E-commerce practice")
        if custom:
            launch.set_custom_parameters_claim(custom)
        if deep_linking:
            launch.set_dl(f"{self.base}/deep-link-return", title="Praxis", accept_types={"ltiResourceLink"})
        if lineitem:
            launch.set_ags(f"{self.base}/lineitems", f"{self.base}/lineitems/{lineitem}",
                           allow_creating_lineitems=False)
        if memberships:
            launch.set_nrps(f"{self.base}/memberships/{context_id}")
        return launch

    def sign(self, launch):
        """The id_token and state the browser POSTs to the tool."""
        return launch.generate_launch_request()

    def sign_claims(self, claims, key=None, kid=None):
        """An id_token with exactly these claims, signed with the platform's key
        (or another one: a forgery)."""
        kid = kid or self.registration.get_kid()
        return jwt.encode(claims, key or self.private_pem, algorithm="RS256", headers={"kid": kid})

    def claims_of(self, launch):
        message, _ = launch.get_launch_data()
        now = int(time.time())
        return dict(message, iat=now, exp=now + 300)

    def validate_deep_linking_response(self, response_jwt):
        self.refresh_tool_keys()
        return self.conf.validate_deeplinking_resp({"JWT": response_jwt})


def auth_redirect_params(location):
    return dict(parse_qsl(urlparse(location).query))


def query(params):
    return urlencode(params)


@pytest.fixture
def platforms():
    """``platforms(**kwargs)``: LMS platforms, closed at the end of the test."""
    made = []

    def make(**kwargs):
        made.append(Platform(**kwargs))
        return made[-1]

    yield make
    for platform in made:
        platform.close()
