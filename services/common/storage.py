"""Storage: each service's own MongoDB database through mongoengine.

Documents of a service bind to the connection alias that is the service's name
(``meta = {"db_alias": "enrollment"}``); ``Storage`` opens that connection when
the container starts, creates the documents' indexes, and injects a repository
(plain class, replaceable by an in-memory fake in unit tests).
"""
import mongoengine
from mongoengine.connection import get_db
from nameko.extensions import DependencyProvider

from services.common.config import database_name, mongo_uri


def connect(alias):
    """(Re)connect ``alias`` to ``praxis_<alias>`` on MONGO_URI; return the pymongo db."""
    mongoengine.disconnect(alias)
    mongoengine.connect(
        db=database_name(alias), host=mongo_uri(), alias=alias, tz_aware=True,
        uuidRepresentation="standard", serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000)
    return get_db(alias)


def ensure_indexes(documents):
    for document in documents:
        document.ensure_indexes()


class Storage(DependencyProvider):
    """``programs = Storage(ProgramRepository, documents=[ProgramDoc])``;
    without a repository class it injects the service's pymongo database."""

    def __init__(self, repository_cls=None, documents=()):
        self.repository_cls = repository_cls
        self.documents = list(documents)

    def setup(self):
        connect(self.container.service_name)

    def start(self):
        ensure_indexes(self.documents)

    def get_dependency(self, worker_ctx):
        if self.repository_cls is None:
            return get_db(self.container.service_name)
        return self.repository_cls()
