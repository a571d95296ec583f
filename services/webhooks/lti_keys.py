"""The school's own LTI signing keys (RS256), with rotation, owned by this service
(praxis_webhooks): they sign its service calls to the LMS (AGS, NRPS) and the
deep-linking responses the gateway asks it to sign; the gateway publishes the JWKS
it gets from here. Private keys never leave this service.

One document per school in ``lti_keys``: ``{_id: school, keys: [...], revision}``.
The newest key signs; a rotated-out key stays in the published JWKS until its
``retire_ts`` (platforms cache JWKS), then it is dropped. Rewrites go whole under a
revision guard (no ``$push``: nx-27017 stores pushed dicts as strings).
The kid is the RFC 7638 thumbprint, as pylti1p3 computes it when it signs.

With ``PRAXIS_SECRET_KEY`` set, private keys are stored encrypted with it (Fernet);
keep that secret as long as the keys (a new secret needs new keys: rotate).
"""
import base64
import hashlib
import os
import time
from datetime import datetime, timezone

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.registration import Registration
from pymongo.errors import DuplicateKeyError



def _fernet():
    secret = os.environ.get("PRAXIS_SECRET_KEY")
    if not secret:
        return None
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"praxis-lti-keys\n" + secret.encode()).digest()))


def _sealed(private_pem):
    fernet = _fernet()
    return "fernet:" + fernet.encrypt(private_pem.encode()).decode() if fernet else private_pem


def private_pem(key):
    """The key's private PEM (decrypted when stored sealed)."""
    stored = key["private_pem"]
    if stored.startswith("fernet:"):
        fernet = _fernet()
        if fernet is None:
            raise RuntimeError("LTI keys are stored encrypted: set PRAXIS_SECRET_KEY")
        return fernet.decrypt(stored[len("fernet:"):].encode()).decode()
    return stored


def _new_key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sealed = _sealed(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    jwk = dict(Registration.get_jwk(public_pem))
    return {"kid": jwk["kid"], "private_pem": sealed, "public_pem": public_pem, "jwk": jwk,
            "created_ts": time.time(), "retire_ts": None}


def _record(school_id, db):
    record = db.lti_keys.find_one({"_id": school_id})
    if record is None:
        try:
            db.lti_keys.insert_one({"_id": school_id, "keys": [_new_key()], "revision": 1})
        except DuplicateKeyError:
            pass  # another worker made the first key at the same moment: use theirs
        record = db.lti_keys.find_one({"_id": school_id})
    return record


def signing_key(db, school_id):
    """The key that signs now (made on first use)."""
    return max(_record(school_id, db)["keys"], key=lambda k: k["created_ts"])


def published(db, school_id, now=None):
    """The keys still in the JWKS: the current one and those not yet retired."""
    now = time.time() if now is None else now
    return [k for k in _record(school_id, db)["keys"] if k["retire_ts"] is None or k["retire_ts"] > now]


def jwks(db, school_id):
    return {"keys": [k["jwk"] for k in published(db, school_id)]}


def rotate(db, school_id, overlap_seconds):
    """A new signing key; the current one stays published for ``overlap_seconds``."""
    for _ in range(5):
        record = _record(school_id, db)
        now = time.time()
        keys = [dict(k, retire_ts=k["retire_ts"] if k["retire_ts"] is not None else now + overlap_seconds)
                for k in record["keys"] if k["retire_ts"] is None or k["retire_ts"] > now]
        keys.append(_new_key())
        result = db.lti_keys.replace_one({"_id": school_id, "revision": record["revision"]},
                                         {"_id": school_id, "keys": keys, "revision": record["revision"] + 1})
        if result.modified_count == 1:
            return keys[-1]
    raise RuntimeError("the keys changed under five rotations in a row")


def describe(key):
    def iso(ts):
        return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts is not None else None
    return {"kid": key["kid"], "created_at": iso(key["created_ts"]), "retires_at": iso(key["retire_ts"])}


def registration_of(db, platform):
    """pylti1p3's Registration for a platform record, with its school's signing key."""
    key = signing_key(db, platform["school_id"])
    return (Registration()
            .set_issuer(platform["issuer"]).set_client_id(platform["client_id"])
            .set_key_set_url(platform["key_set_url"]).set_auth_login_url(platform["auth_login_url"])
            .set_auth_token_url(platform["auth_token_url"])
            .set_auth_audience(platform.get("auth_audience"))
            .set_tool_private_key(private_pem(key)).set_tool_public_key(key["public_pem"]))


DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGE_TYPE = "https://purl.imsglobal.org/spec/lti/claim/message_type"


def sign_deep_linking_response(db, platform, message):
    """The gateway's LtiDeepLinkingResponse for this platform, signed with the
    school's current key (kid in the header). Only that message, addressed from
    Praxis's client id to the platform's issuer, is signed: nothing else."""
    if (message.get(MESSAGE_TYPE) != DEEP_LINKING_RESPONSE or message.get("iss") != platform["client_id"]
            or message.get("aud") != [platform["issuer"]]):
        raise ValueError("only a deep-linking response from Praxis to this platform is signed")
    key = signing_key(db, platform["school_id"])
    return jwt.encode(message, private_pem(key), algorithm="RS256", headers={"kid": key["kid"]})
