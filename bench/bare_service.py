"""The raw stack's RPC baselines, a nameko service
(``nameko run --broker AMQP_URI bench.bare_service:BareService``):

echo     one RPC that touches nothing
record   the raw reference of a write: one insert and one find by ``_id`` on the
         database (pymongo, MONGO_URI, database ``benchbare``) and one event
         published (nameko's EventDispatcher, publisher confirms) - what a sign-in
         must do at the least
"""
import os
import uuid

import pymongo
from nameko.events import EventDispatcher
from nameko.rpc import rpc

_client = None


def _records():
    global _client
    if _client is None:
        _client = pymongo.MongoClient(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
    return _client.benchbare.records


class BareService:
    name = "bench_bare"
    dispatch = EventDispatcher()

    @rpc
    def echo(self, value):
        return {"value": value}

    @rpc
    def record(self, data):
        records = _records()
        _id = uuid.uuid4().hex
        records.insert_one({"_id": _id, **data})
        stored = records.find_one({"_id": _id})
        stored["id"] = stored.pop("_id")
        self.dispatch("recorded", stored)
        return stored
