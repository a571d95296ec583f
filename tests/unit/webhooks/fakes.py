"""An in-memory stand-in for services.webhooks.repository.WebhookRepository
(the parts the unit tests drive), so the service runs without a database."""
import copy


class FakeWebhookRepository:
    def __init__(self):
        self.endpoints, self.deliveries, self.attempts = {}, {}, {}

    def add_endpoint(self, endpoint):
        self.endpoints[endpoint["_id"]] = dict(copy.deepcopy(endpoint), revision=1, pending_events=[])

    def endpoint(self, school_id, endpoint_id):
        found = self.endpoints.get(endpoint_id)
        return copy.deepcopy(found) if found and found["school_id"] == school_id else None

    def endpoint_by_id(self, endpoint_id):
        return copy.deepcopy(self.endpoints.get(endpoint_id))

    def endpoints_of(self, school_id):
        return [copy.deepcopy(e) for e in self.endpoints.values() if e["school_id"] == school_id]

    def replace_endpoint(self, endpoint, events=()):
        stored = self.endpoints.get(endpoint["_id"])
        if stored is None or stored["revision"] != endpoint["revision"]:
            return False
        pending = list(endpoint.get("pending_events") or []) + list(events)
        self.endpoints[endpoint["_id"]] = dict(copy.deepcopy(endpoint), revision=endpoint["revision"] + 1,
                                               pending_events=pending)
        return True

    def add_delivery(self, delivery):
        if delivery["_id"] in self.deliveries:
            return False
        self.deliveries[delivery["_id"]] = copy.deepcopy(delivery)
        return True

    def delivery(self, delivery_id):
        return copy.deepcopy(self.deliveries.get(delivery_id))

    def due(self, now, limit, collection="deliveries"):
        due = [d for d in self.deliveries.values() if d["status"] == "pending" and d["due_ts"] <= now]
        return [{"_id": d["_id"]} for d in sorted(due, key=lambda d: d["due_ts"])[:limit]]

    def claim(self, delivery_id, now, lease, collection="deliveries"):
        found = self.deliveries.get(delivery_id)
        if found is None or found["status"] != "pending" or found["due_ts"] > now:
            return None
        found["due_ts"] = now + lease
        return copy.deepcopy(found)

    def update_delivery(self, delivery_id, changes, collection="deliveries"):
        self.deliveries[delivery_id].update(copy.deepcopy(changes))

    def add_attempt(self, attempt):
        self.attempts.setdefault(attempt["_id"], attempt)

    def deliveries_of(self, endpoint_id, status=None, limit=50):
        return [copy.deepcopy(d) for d in self.deliveries.values()
                if d["endpoint_id"] == endpoint_id and status in (None, d["status"])][:limit]

    def set_deliveries(self, endpoint_id, from_status, changes):
        for d in self.deliveries.values():
            if d["endpoint_id"] == endpoint_id and d["status"] == from_status:
                d.update(changes)
