"""The LTI store, as the gateway reaches it: registrations, the school's signing
keys, the people LMS users are and the courses launches name belong to the
webhooks service (services/webhooks/lti_store.py); the gateway asks it by RPC,
through the pooled, deadline-aware client (a 503 with Retry-After when it does
not answer in time), and never reads its collections.

A launch has no API caller: those calls go as the gateway itself.
"""
from flask import current_app, g

SERVICE = "webhooks"


def _as_gateway():
    return {"school_id": None, "role": "gateway", "partner_id": None, "key_id": None, "actor": "gateway:lti",
            "acting": {"kind": None, "id": None}, "correlation_id": getattr(g, "correlation_id", None)}


def _call(method, *args):
    return current_app.extensions["praxis_rpc"].call(SERVICE, method, _as_gateway(), *args,
                                                     correlation_id=getattr(g, "correlation_id", None))


def registration(issuer, client_id=None):
    """The platform registered as (issuer, client id) (or the issuer's only one), or None."""
    return _call("lti_registration", issuer, client_id)


def platform(platform_id):
    return _call("lti_platform", platform_id)


def jwks(platform_id):
    """The public keys of the platform's school, or None."""
    return _call("lti_jwks", platform_id)


def launched(platform_id, claims):
    """Record a validated launch (contracts.lti.LaunchedSchema); the Praxis person id."""
    return _call("lti_launched", platform_id, claims)["person_id"]


def sign_deep_linking_response(platform_id, message):
    return _call("lti_sign_deep_linking_response", platform_id, message)
