"""What every Praxis service class has in common."""
from mongoengine.connection import get_db

from services.common.rpc import rpc


class PraxisService:
    """Base of the five services: a ``health`` RPC that the gateway's /ready calls."""
    name = None

    @rpc
    def health(self):
        get_db(self.name).command("ping")  # raises if the database is away
        return {"service": self.name, "status": "ok"}
