"""One blueprint per resource. Views validate with the contracts' schemas and
call a service; ``call`` passes who is calling and the request's correlation id.

Services answer JSON-ready data already dumped with the contract's schema, so
views send it as is (``reply``); ``@blp.response`` still documents the schema.
"""
from flask import current_app, g, jsonify


def call(service, method, *args):
    return current_app.extensions["praxis_rpc"].call(
        service, method, g.caller, *args, correlation_id=g.correlation_id)


def reply(data, status=200, headers=None):
    response = jsonify(data)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
