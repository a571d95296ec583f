"""The launch session: after a valid launch, the browser holds a signed cookie
(itsdangerous, with the gateway's shared secret) saying who it is; the gateway
honours it as the caller for the pages it serves and for API calls from them.

A cookie caller is the LMS acting for that person (``lms`` + ``student:<id>`` or
``staff:<id>``), or ``admin`` + ``staff:<id>`` for an LMS Administrator; its key id is
``lti:<platform id>``. Cookie-authenticated calls that change something must carry
``X-CSRF-Token`` (given to the page), because a browser sends cookies by itself.
"""
import hmac
import os
import secrets
import time

from flask import g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.errors import problem
from gateway.lti import registry, store

COOKIE = "praxis_lti"
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE = int(os.environ.get("PRAXIS_LTI_SESSION_SECONDS", "28800"))  # a working day
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _serializer():
    secret = os.environ.get("PRAXIS_SECRET_KEY") or store.shared_secret("lti-session")
    return URLSafeTimedSerializer(secret, salt="praxis-lti-session")


def issue(response, person):
    """Put the launch session on ``response``; returns its CSRF token."""
    session = dict(person, csrf=secrets.token_urlsafe(24))
    secure = request.is_secure
    # inside the LMS's iframe the cookie is third-party: SameSite=None needs Secure, and
    # browsers that block third-party cookies keep a partitioned one (CHIPS)
    response.set_cookie(COOKIE, _serializer().dumps(session), max_age=MAX_AGE, httponly=True,
                        secure=secure, samesite="None" if secure else "Lax", path="/", partitioned=secure)
    return session["csrf"]


def current():
    """The launch session of this request, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        return _serializer().loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None


_platforms = {}  # platform id -> (checked until, still registered to the session's school)
_CACHE_SECONDS = 10  # a deleted registration's sessions stop within this many seconds


def _still_registered(session):
    hit = _platforms.get(session["platform_id"])
    if hit is None or hit[0] < time.monotonic():
        record = registry.platform(session["platform_id"])
        hit = (time.monotonic() + _CACHE_SECONDS, record["school_id"] if record else None)
        _platforms[session["platform_id"]] = hit
    return hit[1] == session["school_id"]


def caller_from_cookie():
    """Set ``g.caller`` from the launch session; ``(handled, refusal)``."""
    session = current()
    if session is None:
        return False, None
    if not _still_registered(session):
        return True, problem(401, "Unauthorized", "the LMS registration of this launch session was removed")
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), session["csrf"]):
        return True, problem(403, "Forbidden", f"a call with the launch session needs its {CSRF_HEADER}",
                             {CSRF_HEADER: ["missing or wrong"]})
    person = session["acting"]
    key = f"{session['role']}:lti:{session['platform_id']}"
    g.caller = {
        "key_id": f"lti:{session['platform_id']}:{person['id']}", "school_id": session["school_id"],
        "role": session["role"], "partner_id": None, "acting": person,
        "actor": f"{key}/{person['kind']}:{person['id']}", "correlation_id": g.correlation_id,
    }
    return True, None
