"""Storage of endpoints, deliveries and attempts (praxis_webhooks), by ``_id``
wherever a document changes (nx-27017 keeps those fast); values that change are
strings and numbers ($set of a datetime or boolean is not kept as such there)."""
from mongoengine.connection import get_db
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.events import owing
from services.webhooks.models import ALIAS


class WebhookRepository:

    @property
    def db(self):
        return get_db(ALIAS)

    # --- endpoints -------------------------------------------------------------

    def add_endpoint(self, endpoint):
        self.db.endpoints.insert_one(dict(endpoint, revision=1, pending_events=[]))

    def endpoint(self, school_id, endpoint_id):
        found = self.db.endpoints.find_one({"_id": endpoint_id})
        return found if found is not None and found["school_id"] == school_id else None

    def endpoint_by_id(self, endpoint_id):
        return self.db.endpoints.find_one({"_id": endpoint_id})

    def endpoints_of(self, school_id):
        return list(self.db.endpoints.find({"school_id": school_id}).sort("created_at", 1))

    def replace_endpoint(self, endpoint, events=()):
        """Write the endpoint whole if nobody changed it meanwhile (revision guard),
        with the events it owes; False when it changed."""
        pending = list(endpoint.get("pending_events") or []) + list(events)
        new = dict(endpoint, revision=endpoint["revision"] + 1, pending_events=pending, **owing(pending))
        result = self.db.endpoints.replace_one({"_id": endpoint["_id"], "revision": endpoint["revision"]}, new)
        return result.modified_count == 1

    def delete_endpoint(self, endpoint_id):
        self.db.endpoints.delete_one({"_id": endpoint_id})

    # --- deliveries --------------------------------------------------------------

    def _insert_once(self, collection, document):
        try:
            self.db[collection].insert_one(document)
            return True
        except DuplicateKeyError:
            return False

    def add_delivery(self, delivery):
        """Insert unless this endpoint has this event already (the ``_id``)."""
        return self._insert_once("deliveries", delivery)

    def delivery(self, delivery_id):
        return self.db.deliveries.find_one({"_id": delivery_id})

    def due(self, now, limit, collection="deliveries"):
        return list(self.db[collection].find({"status": "pending", "due_ts": {"$lte": now}},
                                             {"_id": 1}).sort("due_ts", 1).limit(limit))

    def claim(self, delivery_id, now, lease, collection="deliveries"):
        """Take a due delivery (or grade post) for ``lease`` seconds: its due time
        moves on, so no other worker takes it meanwhile, and a worker that dies
        leaves it due again."""
        return self.db[collection].find_one_and_update(
            {"_id": delivery_id, "status": "pending", "due_ts": {"$lte": now}},
            {"$set": {"due_ts": now + lease}}, return_document=ReturnDocument.AFTER)

    def update_delivery(self, delivery_id, changes, collection="deliveries"):
        self.db[collection].update_one({"_id": delivery_id}, {"$set": changes})

    def add_attempt(self, attempt):
        self._insert_once("attempts", attempt)

    def deliveries_of(self, endpoint_id, status=None, limit=50, offset=0):
        query = {"endpoint_id": endpoint_id}
        if status:
            query["status"] = status
        return list(self.db.deliveries.find(query).sort("created_ts", -1).skip(offset).limit(limit))

    def set_deliveries(self, endpoint_id, from_status, changes):
        self.db.deliveries.update_many({"endpoint_id": endpoint_id, "status": from_status}, {"$set": changes})

    # --- grade posts to an LMS (AGS) ------------------------------------------------

    def add_grade_post(self, post):
        """Insert unless this grading was queued for this line item already (the ``_id``)."""
        return self._insert_once("grade_posts", post)

    def grade_post(self, post_id):
        return self.db.grade_posts.find_one({"_id": post_id})

    def grade_posts_of(self, school_id, status=None, limit=50, offset=0):
        query = {"school_id": school_id}
        if status:
            query["status"] = status
        return list(self.db.grade_posts.find(query, {"score": 0}).sort("created_ts", -1).skip(offset).limit(limit))
