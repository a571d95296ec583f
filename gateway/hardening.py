"""Ordinary input never reaches a view in a shape that breaks it, and responses say
how they may be handled.

Before a view: a URL or header too long for the limits (414 / 431, answered by the app
as problem+json: gunicorn is started with higher limits of its own), a chunked body over
PRAXIS_MAX_BODY_BYTES (413, as with Content-Length; werkzeug would cut it silently), JSON
nested deeper than MAX_DEPTH (400), and strings with control characters or lone
surrogates in the body, the query or the path (422 naming the field). After a view:
``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` on every response (they
carry personal data), and a Content-Security-Policy on the docs page.
"""
import json
import re

from flask import request

from gateway.errors import problem

MAX_URL = 4094          # gunicorn's own default for the request line
MAX_HEADER = 8190       # gunicorn's own default for one header field
MAX_DEPTH = 64          # no payload of the API nests deeper than a few levels
# C0 controls except tab, line feed and carriage return (texts may hold lines), and DEL
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'")


def check_request(max_body):
    """A problem response for input the API never accepts, or None."""
    if len(request.full_path) > MAX_URL:
        return problem(414, "URI too long", f"the request line is longer than {MAX_URL} bytes")
    for name, value in request.headers.items():
        if len(name) + len(value) > MAX_HEADER:
            return problem(431, "Request header fields too large",
                           f"the {name} header is longer than {MAX_HEADER} bytes")
    bad = _bad_text(request.path)
    if bad:
        return problem(400, "Bad request", f"the path {bad}")
    for key, value in request.args.items(multi=True):
        bad = _bad_text(key) or _bad_text(value)
        if bad:
            return problem(422, "Unprocessable entity", f"the query {bad}", {key[:64]: [bad]})
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        return _check_body(max_body)
    return None


def _check_body(max_body):
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        data = request.get_data(cache=True)  # werkzeug stops at the limit without saying so
        if len(data) >= max_body:
            return problem(413, "Content too large", f"the body is larger than {max_body} bytes")
    if not request.is_json:
        return None
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        body = json.loads(data)
    except RecursionError:
        return problem(400, "Bad request", f"the JSON body nests deeper than {MAX_DEPTH} levels")
    except ValueError:
        return None  # not JSON: the view's parser answers with the reason
    return _walk(body)


def _walk(body):
    """Depth, control characters and lone surrogates, without recursion."""
    stack = [(body, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return problem(400, "Bad request", f"the JSON body nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                bad = _bad_text(key)
                if bad:
                    return _field_problem(where or "body", f"a key {bad}")
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}.{n}" if where else str(n), depth + 1) for n, item in enumerate(value))
        elif isinstance(value, str):
            bad = _bad_text(value)
            if bad:
                return _field_problem(where or "body", bad)
    return None


def _bad_text(text):
    if CONTROL.search(text):
        return "contains control characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def _field_problem(field, reason):
    field = field[:200]
    return problem(422, "Unprocessable entity", f"{field} {reason}", {field: [reason]})


def secure(response, path):
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not path.startswith("/api/docs/assets/"):
        response.headers["Cache-Control"] = "no-store"
    if path.startswith("/api/docs"):
        response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
