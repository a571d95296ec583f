"""pylti1p3 over Praxis's LTI store: registrations, launch validation, role mapping.

pylti1p3 checks the state cookie, the JWT's format, that the nonce was issued at
login, the registration (iss + aud), the signature against the platform's JWKS,
the expiry, the deployment id and the message's required claims. Praxis adds what
it leaves open: a nonce is good for one launch only (removed on success, so a
replayed id_token is refused), ``exp`` and ``iat`` are required, an ``aud`` naming
several clients needs a matching ``azp``, and the error messages say which check
failed.
"""
import logging
import re
import time

from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract

from contracts.lti_roles import map_roles
from gateway.lti import registry, store

log = logging.getLogger("praxis.lti")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
ROLES_CLAIM = CLAIM + "roles"
CUSTOM_CLAIM = CLAIM + "custom"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
NONCE_PREFIX = "lti1p3-nonce-"
# an LMS user id Praxis maps onto a person (services/webhooks/people.py)
USER_ID = re.compile(r"[!-~]{1,120}")


class LaunchRefused(Exception):
    """A login or launch Praxis does not accept; ``status`` and a clear reason."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.reason, self.status = reason, status


# --- pylti1p3's configuration (over the LTI store) and its launch storage ----------

def registration_of(platform):
    """pylti1p3's Registration of a platform, for validating its launches (the
    school's private key stays in the LTI store: it signs what Praxis sends)."""
    return (Registration()
            .set_issuer(platform["issuer"]).set_client_id(platform["client_id"])
            .set_key_set_url(platform["key_set_url"]).set_auth_login_url(platform["auth_login_url"])
            .set_auth_token_url(platform["auth_token_url"])
            .set_auth_audience(platform.get("auth_audience")))


class PraxisToolConf(ToolConfAbstract):
    """Registrations by (issuer, client id) from the LTI store (one RPC per
    registration a request needs)."""

    def __init__(self):
        super().__init__()
        self.platform = None  # the platform record of the last registration found

    def check_iss_has_one_client(self, iss):
        return False

    def check_iss_has_many_clients(self, iss):
        return True

    def _platform(self, iss, client_id):
        known = self.platform
        if known is not None and known["issuer"] == iss and (client_id is None or known["client_id"] == client_id):
            return known
        return registry.registration(iss, client_id or None)

    def find_registration_by_issuer(self, iss, *args, **kwargs):
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(self, iss, client_id, *args, **kwargs):
        record = self._platform(iss, client_id)
        if record is None:
            return None
        self.platform = record
        return registration_of(record)

    def find_deployment(self, iss, deployment_id):
        return None

    def find_deployment_by_params(self, iss, deployment_id, client_id, *args, **kwargs):
        record = self._platform(iss, client_id)
        if record is None or deployment_id not in record["deployment_ids"]:
            return None
        return Deployment().set_deployment_id(deployment_id)


class DatabaseLaunchStorage(LaunchDataStorage):
    """Nonces, state and launch data in ``lti_state`` (shared by every gateway
    worker), with expiry; no session cookie: nonces are 256 random bits and the
    state is checked against its own cookie."""

    def get_session_cookie_name(self):
        return None

    def can_set_keys_expiration(self):
        return True

    def get_value(self, key):
        return store.get_state(self._prepare_key(key))

    def set_value(self, key, value, exp=None):
        store.put_state(self._prepare_key(key), value, exp)

    def check_value(self, key):
        return store.get_state(self._prepare_key(key)) is not None


# --- login and launch ------------------------------------------------------------

def oidc_login(launch_url):
    """Answer a third-party initiated login with the redirect to the platform's
    auth endpoint (state cookie set, nonce stored)."""
    conf = PraxisToolConf()
    login = FlaskOIDCLogin(FlaskRequest(), conf, launch_data_storage=DatabaseLaunchStorage())
    try:
        response = login.redirect(launch_url)
    except (OIDCException, LtiException) as exc:
        raise LaunchRefused(f"login refused: {exc}") from exc
    return response, conf.platform


class PraxisMessageLaunch(FlaskMessageLaunch):
    def __init__(self, request, tool_config, **kwargs):
        super().__init__(request, tool_config, **kwargs)
        self.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat"]})

    def validate_registration(self):
        try:
            return super().validate_registration()
        except LtiException as exc:
            raise LaunchRefused(f"wrong audience or unknown platform: no registration of this issuer has "
                                f"client id {self.get_client_id()!r} ({exc})", 401) from exc

    def validate_nonce(self):
        try:
            return super().validate_nonce()
        except LtiException as exc:
            raise LaunchRefused("the nonce was used already or never issued by Praxis: a replayed or "
                                "forged id_token", 401) from exc

    def validate_jwt_signature(self):
        try:
            return super().validate_jwt_signature()
        except LtiException as exc:
            raise LaunchRefused(f"the id_token's signature, expiry or issue time is not valid: {exc}", 401) from exc

    def validate_deployment(self):
        try:
            return super().validate_deployment()
        except LtiException as exc:
            raise LaunchRefused(f"unknown deployment: {exc}", 403) from exc

    def validate(self):
        super().validate()
        body = self._get_jwt_body()
        aud = body.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and body.get("azp") != self.get_client_id():
            raise LaunchRefused("the id_token names several audiences and its azp is not Praxis's client id", 401)
        # the nonce is spent only now, by a launch that passed every check: the one
        # request that removes it wins, a replay of the same id_token finds it gone
        if not store.take_state(NONCE_PREFIX + body["nonce"]):
            raise LaunchRefused("the nonce was used already: a replayed id_token", 401)
        return self


def validate_launch():
    """Validate the POSTed id_token; return ``(launch, platform record, jwt body)``."""
    conf = PraxisToolConf()
    launch = PraxisMessageLaunch(FlaskRequest(), conf, launch_data_storage=DatabaseLaunchStorage())
    try:
        launch.validate()
    except (LtiException, OIDCException, LaunchRefused) as exc:
        refusal = exc if isinstance(exc, LaunchRefused) else LaunchRefused(f"launch refused: {exc}")
        # for the log: the platform found (if any) and the user the token claims
        claimed = launch._jwt.get("body") or {}  # unverified: what the token says, for the log
        refusal.platform = conf.platform or {"_id": None, "school_id": None}
        refusal.user, refusal.issuer = claimed.get("sub"), claimed.get("iss")
        raise refusal from exc
    return launch, conf.platform, launch.get_launch_data()


def restore_launch(launch_id):
    """A launch validated earlier (deep linking answers after the instructor picks)."""
    conf = PraxisToolConf()
    try:
        launch = PraxisMessageLaunch.from_cache(launch_id, FlaskRequest(), conf,
                                                launch_data_storage=DatabaseLaunchStorage())
    except LtiException as exc:
        raise LaunchRefused(f"no such launch, or it expired: {exc}", 404) from exc
    return launch, conf.platform


def launch_claims(body):
    """What the LTI store records of a validated launch (contracts.lti.LaunchedSchema)."""
    context = body.get(CLAIM + "context") or {}
    ags = body.get(AGS_CLAIM) or {}
    nrps = body.get(NRPS_CLAIM) or {}
    email = body.get("email")
    return {
        "sub": body["sub"], "name": str(body.get("name") or "")[:300],
        "email": email[:320] if isinstance(email, str) and email else None,
        "context": {"id": str(context["id"])[:255], "title": str(context.get("title") or "")[:1000]}
        if context.get("id") else None,
        "ags": {"lineitem": ags.get("lineitem"), "lineitems": ags.get("lineitems"),
                "scope": [str(s) for s in (ags.get("scope") or [])][:20]} if ags else None,
        "nrps": {"context_memberships_url": nrps.get("context_memberships_url")} if nrps else None,
        "target": str((body.get(CUSTOM_CLAIM) or {}).get("praxis_target") or "")[:200],
    }


def person_of(platform, body, launched):
    """Who the launch is: the school (the registration's), the Praxis role and the
    acting person; LaunchRefused when Praxis admits no role of the user's.
    ``launched(claims)`` records the launch in the LTI store and answers the Praxis
    person the LMS user is (made on their first launch)."""
    user_id = body.get("sub")
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        raise LaunchRefused("the launch names no user Praxis can act for (sub: 1-120 printable characters)", 403)
    mapped = map_roles(body.get(ROLES_CLAIM) or [])
    if mapped is None:
        raise LaunchRefused("none of the user's LTI roles is admitted (Learner, Instructor, "
                            "TeachingAssistant or Administrator)", 403)
    person_id = launched(launch_claims(body))
    return {
        "school_id": platform["school_id"], "platform_id": platform["_id"],
        "role": "admin" if mapped == "admin" else "lms",
        "acting": {"kind": "student" if mapped == "student" else "staff", "id": person_id},
        "lms_user_id": user_id,
        "lti_role": mapped, "name": body.get("name") or "",
        "context_id": (body.get(CLAIM + "context") or {}).get("id"),
        "deployment_id": body.get(CLAIM + "deployment_id"),
        "issued_ts": time.time(),
    }
