"""API keys: ``Authorization: Bearer prx_<key id>_<secret>``.

A key belongs to one school (tenant) and has a role: ``admin`` (school staff),
``lms`` (the school's LMS, acting for its students and teachers) or ``partner``
(an enterprise partner working with that school; ``partner_id`` says which).
Only a SHA-256 of the secret is stored (the secret is 256 random bits, so a slow
hash adds nothing), compared in constant time.
"""
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from functools import wraps

from flask import g, request
from flask_smorest import Blueprint

from gateway.db import get_db
from gateway.errors import problem

ROLES = ("admin", "lms", "partner")
ACTING_HEADER = "X-Acting-User"
ACTING_KINDS = ("student", "staff")
# ``student:<id>`` or ``staff:<id>``: printable ASCII without spaces, 128 characters at most
_ACTING = re.compile(r"(student|staff):([!-~]{1,120})")
_CACHE_SECONDS = 1  # a revoked key stops working within this many seconds, in every worker
_CACHE_SIZE = 4096  # keys remembered per worker (least recently used go first)
_cache = OrderedDict()
_cache_lock = threading.Lock()
# what create_key makes: 16 hex digits of key id, 43 URL-safe characters of secret
_KEY = re.compile(r"prx_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(school_id, role, partner_id=None, name="", db=None):
    """Store a new key and return its plaintext (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "partner" and not partner_id:
        raise ValueError("a partner key needs --partner")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    (db if db is not None else get_db()).api_keys.insert_one({
        "_id": key_id, "hash": _digest(secret), "school_id": school_id, "role": role,
        "partner_id": partner_id, "name": name, "revoked": False,
        "created_at": datetime.now(timezone.utc)})
    return f"prx_{key_id}_{secret}"


def revoke_key(key_id, db=None):
    return (db if db is not None else get_db()).api_keys.update_one({"_id": key_id}, {"$set": {"revoked": True}}).modified_count


def _lookup(key_id):
    with _cache_lock:
        hit = _cache.get(key_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    record = get_db().api_keys.find_one({"_id": key_id})
    with _cache_lock:
        _cache[key_id] = (time.monotonic() + _CACHE_SECONDS, record)
        _cache.move_to_end(key_id)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return record


def authenticate():
    """Set ``g.caller`` from the Authorization header, or return a 401 problem."""
    header = request.headers.get("Authorization", "")
    if not header:
        # a browser opened from the LMS: the LTI launch session (gateway/lti/session.py)
        from gateway.lti.session import caller_from_cookie
        handled, refusal = caller_from_cookie()
        if handled:
            return refusal
    scheme, _, token = header.partition(" ")
    # a malformed key is refused before any lookup (nothing is looked up or remembered for it)
    match = _KEY.fullmatch(token.strip()) if scheme.lower() == "bearer" and len(token) < 100 else None
    if match is None:
        return _unauthorized("send 'Authorization: Bearer <api key>'")
    key_id, secret = match.groups()
    record = _lookup(key_id)
    if (record is None or record.get("revoked")
            or not hmac.compare_digest(record["hash"], _digest(secret))):
        return _unauthorized("the API key is unknown or revoked")
    person, refusal = _acting_person(record["role"])
    if refusal is not None:
        return refusal
    key = f"{record['role']}:{record['_id']}"
    g.caller = {
        "key_id": record["_id"], "school_id": record["school_id"], "role": record["role"],
        "partner_id": record.get("partner_id"),
        # the person the key acts for (services.common.acting reads it), and the
        # audit string for events: the key and the person, both verified
        "acting": person,
        "actor": f"{key}/{person['kind']}:{person['id']}" if person["kind"] else key,
        "correlation_id": g.correlation_id,
    }
    return None


def _acting_person(role):
    """Parse ``X-Acting-User``: the LMS acts for a student or staff; an admin or
    partner key may only name a person of its own organisation (``staff:<id>``)."""
    raw = request.headers.get(ACTING_HEADER)
    if raw is None:
        return {"kind": None, "id": None}, None
    match = _ACTING.fullmatch(raw) if len(raw) <= 128 else None
    if match is None:
        reason = "must be 'student:<id>' or 'staff:<id>', at most 128 printable characters without spaces"
        return None, problem(400, "Bad request", f"{ACTING_HEADER} {reason}", {ACTING_HEADER: [reason]})
    kind, person_id = match.groups()
    if role != "lms" and kind != "staff":
        return None, problem(403, "Forbidden", f"an {role} key acts as itself or names its own staff, never a {kind}",
                             {ACTING_HEADER: [f"an {role} key may not act as a {kind}"]})
    return {"kind": kind, "id": person_id}, None


def _unauthorized(detail):
    return problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="praxis"'})


def roles(*allowed):
    """Only these roles may call the view; listed in the OpenAPI doc as x-roles."""
    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if g.caller["role"] not in allowed:
                return problem(403, "Forbidden", f"the {g.caller['role']} role may not do this")
            return view(*args, **kwargs)
        return Blueprint.doc(**{"x-roles": list(allowed)})(guarded)
    return decorator


def acting(*kinds):
    """The people the LMS may act for on this route (``X-Acting-User``), listed in the
    OpenAPI doc as x-acting. An LMS call must name one of them; an admin or partner key
    acts as itself (and may name its own staff where ``staff`` is listed)."""
    unknown = set(kinds) - set(ACTING_KINDS)
    if unknown:
        raise ValueError(f"unknown acting kinds {sorted(unknown)}")

    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            person = g.caller["acting"]
            if g.caller["role"] == "lms" and person["kind"] is None:
                reason = f"the LMS must say who acts: one of {', '.join(k + ':<id>' for k in kinds)}"
                return problem(400, "Bad request", reason, {ACTING_HEADER: [reason]})
            if person["kind"] is not None and person["kind"] not in kinds:
                return problem(403, "Forbidden", f"a {person['kind']} may not do this",
                               {ACTING_HEADER: [f"{person['kind']} may not do this"]})
            return view(*args, **kwargs)
        return Blueprint.doc(**{"x-acting": list(kinds)})(guarded)
    return decorator
