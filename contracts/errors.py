"""Exceptions raised by services and mapped to HTTP statuses by the gateway.

Registered with nameko's ``deserialize_to_instance`` so that an RPC caller gets
the same class back instead of a ``RemoteError``.
"""
from nameko.exceptions import deserialize_to_instance


class PraxisError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail="", errors=None):
        super().__init__(detail, errors or {})
        self.detail = detail
        self.errors = errors or {}


@deserialize_to_instance
class InvalidInput(PraxisError):
    """A payload failed its schema or a business rule about its fields."""
    status = 422
    title = "Unprocessable entity"


@deserialize_to_instance
class NotFound(PraxisError):
    """Missing, or belonging to another school (never tell which)."""
    status = 404
    title = "Not found"


@deserialize_to_instance
class Conflict(PraxisError):
    status = 409
    title = "Conflict"


@deserialize_to_instance
class Forbidden(PraxisError):
    status = 403
    title = "Forbidden"
