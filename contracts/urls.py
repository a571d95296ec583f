"""URLs Praxis calls out to (an LMS platform's endpoints, a school's webhooks):
https only. Tests and a developer's machine may allow plain http at the loopback
address with PRAXIS_ALLOW_LOOPBACK_HTTP=1; production never sets it. A URL must also
resolve to public addresses (checked where it is registered and again before each
webhook delivery), unless PRAXIS_ALLOW_PRIVATE_URLS=1."""
import ipaddress
import os
import socket
from urllib.parse import urlparse

from marshmallow import ValidationError, fields, validate

ALLOW_LOOPBACK_HTTP = "PRAXIS_ALLOW_LOOPBACK_HTTP"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def loopback_http_allowed():
    return os.environ.get(ALLOW_LOOPBACK_HTTP, "0") == "1"


def check_https(value):
    parsed = urlparse(value)
    if parsed.scheme == "https" and parsed.hostname:
        return True
    if parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS and loopback_http_allowed():
        return True
    raise ValidationError("must be an https URL")


ALLOW_PRIVATE = "PRAXIS_ALLOW_PRIVATE_URLS"


def private_address(url):
    """The private, loopback, link-local or reserved address ``url``'s host resolves
    to, else None (Praxis must not be steered into calling its own network). A
    school whose LMS or receiver lives on its campus network sets
    PRAXIS_ALLOW_PRIVATE_URLS=1; PRAXIS_ALLOW_LOOPBACK_HTTP=1 admits the loopback.
    A name that does not resolve now is no answer (None): the call will fail."""
    if os.environ.get(ALLOW_PRIVATE, "0") == "1":
        return None
    host = urlparse(url).hostname
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError, TypeError):
        return None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address.is_loopback and loopback_http_allowed():
            continue
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified):
            return str(address)
    return None


def check_public(value):
    address = private_address(value)
    if address is not None:
        raise ValidationError(f"resolves to a non-public address ({address})")
    return True


def HttpsUrl(**kwargs):
    return fields.Url(schemes={"http", "https"}, require_tld=False,
                      validate=[validate.Length(max=2000), check_https, check_public], **kwargs)
