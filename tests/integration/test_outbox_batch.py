"""The outbox relay takes a batch of published documents off in one write: a
document whose publish failed keeps its events (and its flag) for the next sweep,
while the others of the batch are taken off, each event published once."""
from services.common.events import FLAGGED, Outbox
from services.common.storage import connect
from services.enrollment.models import ProgramDoc
from services.enrollment.service import EnrollmentService
from tests.integration.test_reliable_events import program_created
from tests.waiting import eventually


def test_a_failed_publish_keeps_its_documents_events_while_the_rest_of_the_batch_is_taken_off(
        container_factory, rabbit_config, monkeypatch):
    published, broken = [], {"p-broken-1"}
    real_publish = Outbox.publish

    def publish(self, event):
        if event["payload"]["program_id"] in broken:
            raise ConnectionError("the broker went away")
        real_publish(self, event)
        published.append(event["event_id"])
    monkeypatch.setattr(Outbox, "publish", publish)

    connect("enrollment")
    owed = {f"p-{n}": program_created(f"p-{n}") for n in range(5)}
    owed["p-broken"] = program_created("p-broken-1")
    for doc_id, event in owed.items():
        ProgramDoc._get_collection().insert_one({"_id": doc_id, "school_id": "jufe", "name": "Cup",
                               "pending_events": [event], "outbox_pending": 1})
    container_factory(EnrollmentService, rabbit_config).start()  # (it connects anew)

    def doc(doc_id):
        return ProgramDoc._get_collection().find_one({"_id": doc_id})

    good = [f"p-{n}" for n in range(5)]
    assert eventually(lambda: all(doc(d)["pending_events"] == [] for d in good))
    assert all("outbox_pending" not in doc(d) for d in good)
    kept = doc("p-broken")
    assert len(kept["pending_events"]) == 1 and kept["outbox_pending"] == 1
    assert [d["_id"] for d in ProgramDoc._get_collection().find(FLAGGED, {"_id": 1})] == ["p-broken"]

    broken.clear()  # the broker is back: the next sweep publishes it
    assert eventually(lambda: doc("p-broken")["pending_events"] == [], timeout=20)
    assert sorted(published) == sorted(e["event_id"] for e in owed.values())  # each once
