"""The gateway's own database (praxis_gateway): API keys and idempotency records."""
import threading

import pymongo

from services.common.config import database_name, mongo_uri

_lock = threading.Lock()
_client = None
_indexed = False


def get_db():
    """One pooled MongoClient per process (pymongo is thread- and green-safe)."""
    global _client, _indexed
    with _lock:
        if _client is None:
            _client = pymongo.MongoClient(mongo_uri(), tz_aware=True, serverSelectionTimeoutMS=3000,
                                          connectTimeoutMS=3000)
        db = _client[database_name("gateway")]
        if not _indexed:
            ensure_indexes(db)
            _indexed = True
        return db


def ensure_indexes(db):
    # Idempotency records are kept 24 h (Stripe keeps them at least that long).
    db.idempotency.create_index("created_at", expireAfterSeconds=24 * 3600)
    db.api_keys.create_index("school_id")
    # LTI 1.3 launch state (gateway/lti/store.py), kept a day; the LTI store itself is the webhooks service's
    db.lti_state.create_index("created_at", expireAfterSeconds=24 * 3600)


def reset():
    """Forget the client (tests that point MONGO_URI elsewhere)."""
    global _client, _indexed
    with _lock:
        if _client is not None:
            _client.close()
        _client, _indexed = None, False
