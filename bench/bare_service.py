"""The raw stack's RPC baseline: a nameko service with one RPC that touches
nothing (``nameko run --broker AMQP_URI bench.bare_service:BareService``)."""
from nameko.rpc import rpc


class BareService:
    name = "bench_bare"

    @rpc
    def echo(self, value):
        return {"value": value}
