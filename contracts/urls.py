"""URLs Praxis calls out to (an LMS platform's endpoints, a school's webhooks):
https only. Tests and a developer's machine may allow plain http at the loopback
address with PRAXIS_ALLOW_LOOPBACK_HTTP=1; production never sets it."""
import os
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


def HttpsUrl(**kwargs):
    return fields.Url(schemes={"http", "https"}, require_tld=False,
                      validate=[validate.Length(max=2000), check_https], **kwargs)
