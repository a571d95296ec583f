"""Calls to a school's LMS as an LTI Advantage tool: an OAuth2 token by the
client-credentials grant with a JWT assertion signed by the school's key
(pylti1p3's ServiceConnector), cached until shortly before it expires in the
service's database (``lti_tokens``), shared by every worker. Tokens are never logged.

The registrations, the school's keys, the line items and the people LMS users map
onto are the gateway's (``praxis_gateway``: gateway/lti/); this module reads them,
and adds a person when a roster names an LMS user no launch has named yet.
"""
import time

from mongoengine.connection import get_db
from pylti1p3.service_connector import ServiceConnector

from gateway.db import get_db as gateway_db
from gateway.lti import keys, people, store
from gateway.lti.advantage import lineitems_of
from services.webhooks.models import ALIAS

EARLY = 60  # a cached token is renewed this many seconds before it expires


class CachedConnector(ServiceConnector):
    def __init__(self, platform):
        super().__init__(keys.registration_of(platform, gateway_db()))
        self.platform_id = platform["_id"]

    def _key(self, scope_key):
        return f"{self.platform_id}:{scope_key}"

    def _get_cached_access_token(self, scope_key):
        cached = get_db(ALIAS).lti_tokens.find_one({"_id": self._key(scope_key)})
        if cached and cached["expires_ts"] - EARLY > time.time():
            return cached["token"]
        return None

    def _cache_access_token(self, scope_key, access_token, expires_in):
        get_db(ALIAS).lti_tokens.replace_one(
            {"_id": self._key(scope_key)},
            {"_id": self._key(scope_key), "token": access_token,
             "expires_ts": time.time() + float(expires_in or 0)}, upsert=True)


def platform(platform_id):
    return store.find_platform(platform_id, gateway_db())


def lineitems(school_id, assessment_id):
    """The line items this school's assessment is linked to (by its platforms' launches)."""
    return lineitems_of(school_id, assessment_id, gateway_db())



def lms_user(platform, person_id):
    """The LMS user id of this Praxis person on that platform (None: unknown there)."""
    return people.lms_user_of(platform["school_id"], platform["issuer"], person_id, gateway_db())


def person(platform, lms_user_id, name="", email=None):
    """The Praxis person id of an LMS user of that platform (made on first sight)."""
    return people.person_for(platform["school_id"], platform["issuer"], lms_user_id, name, email,
                             gateway_db())["person_id"]
