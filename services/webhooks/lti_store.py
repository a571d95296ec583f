"""The LTI store's steps behind the service's RPCs: registrations, the school's
signing keys, the people LMS users are, and the courses and line items launches
name, all in praxis_webhooks. Admin steps take the caller's school (another
school's platform is NotFound); launch steps are the gateway's, for a launch it
validates (it has no API caller then), and never hand out a private key.
"""
from contracts.base import dump, load
from contracts.errors import NotFound
from contracts.lti import (ContextSchema, LaunchedSchema, PlatformCreateSchema, PlatformUpdateSchema,
                           RotateSchema)
from services.webhooks import links, lti_keys, people, platforms

# --- school staff (through the gateway's /api/v1/lti routes) --------------------------


def register(db, caller, data):
    data = load(PlatformCreateSchema, data)
    record = platforms.create_platform(db, caller["school_id"], data, caller["actor"])
    lti_keys.signing_key(db, caller["school_id"])  # the school's key pair exists from now on
    return platforms.public(record)


def platforms_of(db, caller):
    return [platforms.public(r) for r in platforms.list_platforms(db, caller["school_id"])]


def platform_of(db, caller, pid):
    return platforms.public(platforms.school_platform(db, caller["school_id"], pid))


def update(db, caller, pid, data):
    return platforms.public(platforms.update_platform(db, caller["school_id"], pid, load(PlatformUpdateSchema, data)))


def delete(db, caller, pid):
    platforms.delete_platform(db, caller["school_id"], pid)


def keys_of(db, caller):
    return [lti_keys.describe(k) for k in lti_keys.published(db, caller["school_id"])]


def rotate(db, caller, data):
    data = load(RotateSchema, data)
    return lti_keys.describe(lti_keys.rotate(db, caller["school_id"], data["overlap_hours"] * 3600))


def contexts_of(db, caller):
    return [dump(ContextSchema, {"id": c["_id"], "platform_id": c["platform_id"], "context_id": c["context_id"],
                                 "title": c["title"], "roster": bool(c.get("memberships_url"))})
            for c in links.contexts_of(db, caller["school_id"])]


# --- launches (the gateway, for a launch it validates) --------------------------------


def registration(db, issuer, client_id=None):
    """The registration of (issuer, client id); without a client id, the issuer's
    only one (a login request may leave it out). None when there is none."""
    if client_id:
        record = platforms.find_platform(db, platforms.platform_id(issuer, client_id))
    else:
        found = platforms.platforms_of_issuer(db, issuer)
        record = found[0] if len(found) == 1 else None
    return platforms.public(record) if record is not None else None


def platform(db, pid):
    record = platforms.find_platform(db, pid)
    return platforms.public(record) if record is not None else None


def jwks(db, pid):
    """The public keys of the platform's school (None: no such platform)."""
    record = platforms.find_platform(db, pid)
    return lti_keys.jwks(db, record["school_id"]) if record is not None else None


def _registered(db, pid):
    record = platforms.find_platform(db, pid)
    if record is None:
        raise NotFound("no such platform")
    return record


def launched(db, pid, claims):
    """Record a validated launch: the person the LMS user is (made on the first
    launch), the course's service URLs, the assessment's line item."""
    claims = load(LaunchedSchema, claims)
    record = _registered(db, pid)
    person = people.person_for(db, record["school_id"], record["issuer"], claims["sub"], claims["name"],
                               claims["email"])
    links.remember(db, record, claims)
    return {"person_id": person["person_id"]}


def sign_deep_linking_response(db, pid, message):
    try:
        return lti_keys.sign_deep_linking_response(db, _registered(db, pid), message)
    except ValueError as exc:
        raise NotFound(str(exc)) from None
