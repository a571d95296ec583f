"""Open Badges documents for awarded badges.

Open Badges 2.0: hosted verification. The Issuer profile, the BadgeClass and the
Assertion are JSON-LD documents served at stable URLs (``/badges/...`` on the
gateway); the recipient is a salted SHA-256 identity hash, never the student id.

Open Badges 3.0: an ``OpenBadgeCredential`` (a W3C Verifiable Credential) signed
as a VC-JWT (OB 3.0 section 8.2: the credential's members are the JWT claims,
with ``iss``, ``jti`` and ``nbf``), RS256 with the school's key; the gateway
publishes the public key as a JWKS (``/badges/issuers/{school}/jwks.json``); the
JOSE header names it by ``kid`` (an RFC 7638 thumbprint).
"""
import base64
import hashlib
import json
import os

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

OB2_CONTEXT = "https://w3id.org/openbadges/v2"
VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"


def public_url():
    return os.environ.get("PRAXIS_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/")


def assertion_id(badge_id, student_id):
    return hashlib.sha256(f"{badge_id}\n{student_id}".encode()).hexdigest()[:32]


def urls(base, school_id=None, badge_id=None, award_id=None):
    return {
        "issuer": f"{base}/badges/issuers/{school_id}",
        "jwks": f"{base}/badges/issuers/{school_id}/jwks.json",
        "badge": f"{base}/badges/classes/{badge_id}",
        "image": f"{base}/badges/classes/{badge_id}/image.svg",
        "assertion": f"{base}/badges/assertions/{award_id}",
        "credential": f"{base}/badges/assertions/{award_id}/credential.jwt",
    }


def _identity(school_id, student_id):
    return f"urn:praxis:{school_id}:student:{student_id}"


def identity_hash(school_id, student_id, salt):
    return "sha256$" + hashlib.sha256((_identity(school_id, student_id) + salt).encode()).hexdigest()


def issuer(base, school_id):
    u = urls(base, school_id)
    return {"@context": OB2_CONTEXT, "type": "Issuer", "id": u["issuer"], "name": school_id, "url": u["issuer"]}


def badge_class(base, badge):
    u = urls(base, badge["school_id"], badge["id"])
    return {"@context": OB2_CONTEXT, "type": "BadgeClass", "id": u["badge"], "name": badge["name"],
            "description": badge["description"], "image": u["image"],
            "criteria": {"narrative": badge["criteria"]}, "issuer": u["issuer"], "tags": [badge["key"]]}


def assertion(base, award):
    u = urls(base, award["school_id"], award["badge_id"], award["id"])
    return {"@context": OB2_CONTEXT, "type": "Assertion", "id": u["assertion"],
            "recipient": {"type": "url", "hashed": True, "salt": award["salt"],
                          "identity": identity_hash(award["school_id"], award["student_id"], award["salt"])},
            "badge": u["badge"], "verification": {"type": "hosted"},
            "issuedOn": award["issued_at"].isoformat()}


def credential(base, award, badge):
    u = urls(base, award["school_id"], award["badge_id"], award["id"])
    return {
        "@context": [VC2_CONTEXT, OB3_CONTEXT],
        "id": u["credential"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": u["issuer"], "type": ["Profile"], "name": award["school_id"]},
        "validFrom": award["issued_at"].isoformat(),
        "name": badge["name"],
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityType": "identifier", "hashed": True,
                            "identityHash": identity_hash(award["school_id"], award["student_id"], award["salt"]),
                            "salt": award["salt"]}],
            "achievement": {"id": u["badge"], "type": ["Achievement"], "name": badge["name"],
                            "description": badge["description"], "criteria": {"narrative": badge["criteria"]},
                            "image": {"id": u["image"], "type": "Image"}},
        },
    }


def new_key():
    """A school's signing key, as stored: the private key (PEM) and its kid."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return {"private_pem": pem, "kid": thumbprint(public_jwk(pem))}


def public_jwk(private_pem):
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)


def thumbprint(jwk):
    """RFC 7638: SHA-256 of the required members in lexicographic order."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def jwks(key):
    return {"keys": [{**public_jwk(key["private_pem"]), "kid": key["kid"], "use": "sig", "alg": "RS256"}]}


def sign_credential(cred, key, issued_at):
    claims = {**cred, "iss": cred["issuer"]["id"], "jti": cred["id"], "nbf": int(issued_at.timestamp())}
    # the header names the key by kid, found in the school's JWKS (a whole RSA jwk in the
    # header would pass the 512-byte header limit some JOSE libraries keep)
    return jwt.encode(claims, key["private_pem"], algorithm="RS256", headers={"kid": key["kid"], "typ": "JWT"})


def image_svg(badge):
    name = (badge["name"][:40]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240">'
            '<circle cx="120" cy="120" r="110" fill="#1f6feb"/>'
            f'<text x="120" y="128" font-size="16" text-anchor="middle" fill="#fff">{name}</text></svg>')
