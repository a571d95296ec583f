"""Calls to a school's LMS as an LTI Advantage tool: an OAuth2 token by the
client-credentials grant with a JWT assertion signed by the school's key
(pylti1p3's ServiceConnector), cached until shortly before it expires
(``lti_tokens``), shared by every worker. Tokens are never logged.

The registrations, the school's keys, the line items and the people LMS users map
onto are this service's own (praxis_webhooks; the gateway reaches them by RPC).
"""
import time

from pylti1p3.service_connector import ServiceConnector

from services.webhooks import links, lti_keys, people, platforms

EARLY = 60  # a cached token is renewed this many seconds before it expires


class CachedConnector(ServiceConnector):
    def __init__(self, db, platform):
        super().__init__(lti_keys.registration_of(db, platform))
        self.db = db
        self.platform_id = platform["_id"]

    def _key(self, scope_key):
        return f"{self.platform_id}:{scope_key}"

    def _get_cached_access_token(self, scope_key):
        cached = self.db.lti_tokens.find_one({"_id": self._key(scope_key)})
        if cached and cached["expires_ts"] - EARLY > time.time():
            return cached["token"]
        return None

    def _cache_access_token(self, scope_key, access_token, expires_in):
        self.db.lti_tokens.replace_one(
            {"_id": self._key(scope_key)},
            {"_id": self._key(scope_key), "token": access_token,
             "expires_ts": time.time() + float(expires_in or 0)}, upsert=True)


def platform(db, platform_id):
    return platforms.find_platform(db, platform_id)


def lineitems(db, school_id, assessment_id):
    """The line items this school's assessment is linked to (by its platforms' launches)."""
    return links.lineitems_of(db, school_id, assessment_id)


def lms_user(db, platform, person_id):
    """The LMS user id of this Praxis person on that platform (None: unknown there)."""
    return people.lms_user_of(db, platform["school_id"], platform["issuer"], person_id)


def person(db, platform, lms_user_id, name="", email=None):
    """The Praxis person id of an LMS user of that platform (made on first sight)."""
    return people.person_for(db, platform["school_id"], platform["issuer"], lms_user_id, name, email)["person_id"]
