"""Reliable events on the real broker and database server: the outbox relay,
the idempotent inbox, dead letters, retries, catch-up and queue declaration."""
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from kombu import Connection
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from pymongo.errors import AutoReconnect

from tests.waiting import eventually
from contracts import topology
from gateway import cli
from contracts.enrollment import PROGRAM_CREATED
from contracts.events import make_event
from services.common.events import on_event
from services.common.storage import Storage
from services.enrollment.models import ProgramDoc
from services.enrollment.service import EnrollmentService
from services.supervision.models import ProgramFunnelDoc
from services.supervision.service import SupervisionService

CALLER = {"school_id": "jufe", "actor": "admin:k1", "correlation_id": "it-1"}
PROGRAM = {"name": "Platinum Cup 2026", "season": "2026", "starts_on": date.today().isoformat(),
           "ends_on": (date.today() + timedelta(days=120)).isoformat(),
           "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}]}


def program_created(program_id):
    return make_event(PROGRAM_CREATED, {**{k: PROGRAM[k] for k in ("name", "season", "starts_on", "ends_on", "tracks")},
                                        "program_id": program_id}, school_id="jufe", actor="test")


def publish(rabbit_config, envelope):
    Publisher(rabbit_config["AMQP_URI"]).publish(
        envelope, exchange=topology.event_exchange(envelope.get("source", "enrollment")),
        routing_key=envelope.get("type", PROGRAM_CREATED.type))


class CountingService:
    """A consumer whose effect is NOT idempotent ($inc), so a second application shows."""
    name = "counting"
    db = Storage()
    transient_failures = 0
    broken_ids = set()

    @on_event(PROGRAM_CREATED)
    def count(self, event):
        program_id = event.payload["program_id"]
        if program_id in CountingService.broken_ids:
            raise ValueError(f"cannot handle {program_id}")
        if CountingService.transient_failures:
            CountingService.transient_failures -= 1
            raise AutoReconnect("database restarting")
        self.db.counts.update_one({"_id": program_id}, {"$inc": {"n": 1}}, upsert=True)


def count_of(program_id):
    doc = get_db("counting").counts.find_one({"_id": program_id})
    return doc["n"] if doc else 0


@pytest.fixture
def counting(container_factory, rabbit_config):
    CountingService.transient_failures = 0
    CountingService.broken_ids = set()
    # one worker at a time, so messages are handled in the order they were sent
    container = container_factory(CountingService, {**rabbit_config, "max_workers": 1})
    container.start()
    return container


def test_a_programme_created_in_enrollment_starts_a_funnel_in_supervision(container_factory, rabbit_config):
    enrollment = container_factory(EnrollmentService, rabbit_config)
    supervision = container_factory(SupervisionService, rabbit_config)
    enrollment.start()
    supervision.start()
    with entrypoint_waiter(supervision, "on_program_created", timeout=15):
        with entrypoint_hook(enrollment, "create_program") as create_program:
            program = create_program(CALLER, PROGRAM)
    funnel = ProgramFunnelDoc.objects.get(id=program["id"])
    assert funnel.school_id == "jufe" and funnel.tracks == ["undergraduate"]
    # the relay took the event off the programme document once it was published
    assert eventually(lambda: ProgramDoc.objects.get(id=program["id"]).pending_events == [])


def test_a_redelivered_event_is_applied_once(counting, rabbit_config):
    first = program_created("p-dup")
    publish(rabbit_config, first)
    publish(rabbit_config, first)  # the broker may deliver an event again
    publish(rabbit_config, program_created("p-next"))
    eventually(lambda: count_of("p-next") == 1)
    assert count_of("p-dup") == 1


def test_an_invalid_event_is_kept_as_dead_letter_and_the_next_valid_one_is_processed(counting, rabbit_config):
    invalid = program_created("p-bad")
    del invalid["payload"]["tracks"]
    publish(rabbit_config, invalid)
    publish(rabbit_config, program_created("p-good"))
    eventually(lambda: count_of("p-good") == 1)
    dead = get_db("counting").dead_letters.find_one({"body.event_id": invalid["event_id"]})
    assert dead is not None and "payload" in dead["reason"]
    assert "tracks" in dead["errors"]
    assert count_of("p-bad") == 0


def test_an_event_whose_handler_fails_for_good_is_kept_and_the_next_one_processed(counting, rabbit_config):
    CountingService.broken_ids = {"p-broken"}
    broken = program_created("p-broken")
    publish(rabbit_config, broken)
    publish(rabbit_config, program_created("p-fine"))
    eventually(lambda: count_of("p-fine") == 1)
    dead = eventually(lambda: get_db("counting").dead_letters.find_one({"body.event_id": broken["event_id"]}))
    assert "cannot handle p-broken" in dead["reason"]
    assert count_of("p-broken") == 0

    # once the handler is fixed, staff replay the kept event and it is applied
    CountingService.broken_ids = set()
    cli.main(["dead-letters", "replay", "counting", dead["_id"]])
    eventually(lambda: count_of("p-broken") == 1)
    # the letter is kept, marked applied (the trail of what went wrong stays)
    assert eventually(lambda: letter(dead["_id"])["state"] == "applied")


def letter(letter_id, consumer="counting"):
    return get_db(consumer).dead_letters.find_one({"_id": letter_id})


def test_a_replayed_event_rejected_again_keeps_its_letter(counting, rabbit_config):
    CountingService.broken_ids = {"p-still-broken"}
    broken = program_created("p-still-broken")
    publish(rabbit_config, broken)
    dead = eventually(lambda: letter(f"counting:{broken['event_id']}"))
    assert dead["state"] == "dead" and dead["rejections"] == 1
    cli.main(["dead-letters", "replay", "counting", dead["_id"]])  # not fixed yet
    assert eventually(lambda: (letter(dead["_id"]) or {}).get("rejections") == 2)
    assert letter(dead["_id"])["state"] == "dead"
    assert count_of("p-still-broken") == 0


class TallyingService(CountingService):
    """A second consumer of the same event type."""
    name = "tallying"


def test_a_replay_reaches_only_the_named_consumer(counting, container_factory, rabbit_config):
    container_factory(TallyingService, rabbit_config).start()
    event = program_created("p-replayed")  # kept by counting only, never published
    get_db("counting").dead_letters.insert_one({
        "_id": f"counting:{event['event_id']}", "consumer": "counting", "body": event,
        "reason": "ValueError: was broken", "state": "dead", "rejections": 1,
        "received_at": datetime.now(timezone.utc)})
    cli.main(["dead-letters", "replay", "counting", f"counting:{event['event_id']}"])
    eventually(lambda: count_of("p-replayed") == 1)
    publish(rabbit_config, program_created("p-after"))  # tallying handles events in order
    eventually(lambda: get_db("tallying").counts.find_one({"_id": "p-after"}))
    assert get_db("tallying").counts.find_one({"_id": "p-replayed"}) is None


def test_undecodable_messages_are_kept_as_dead_letters(counting, rabbit_config):
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        producer = connection.Producer()
        exchange = topology.event_exchange("enrollment")
        producer.publish(b'{"event_id": "broken-json", ', content_type="application/json",
                         content_encoding="utf-8", exchange=exchange, routing_key=PROGRAM_CREATED.type)
        producer.publish(program_created("p-pickled"), serializer="pickle", exchange=exchange,
                         routing_key=PROGRAM_CREATED.type)
    publish(rabbit_config, program_created("p-decodable"))
    eventually(lambda: count_of("p-decodable") == 1)
    kept = eventually(lambda: (lambda found: len(found) == 2 and found)(
        list(get_db("counting").dead_letters.find())))
    assert all("cannot be decoded" in k["reason"] for k in kept)
    assert sorted(k["body"]["content_type"] for k in kept) == ["application/json",
                                                               "application/x-python-serialize"]
    assert any('"event_id": "broken-json"' in k["body"]["raw"] for k in kept)
    assert count_of("p-pickled") == 0


def test_a_handler_failing_for_a_passing_reason_is_retried_until_it_succeeds(counting, rabbit_config):
    CountingService.transient_failures = 2
    publish(rabbit_config, program_created("p-retry"))
    eventually(lambda: count_of("p-retry") == 1)
    assert CountingService.transient_failures == 0
    assert get_db("counting").dead_letters.count_documents({}) == 0


def test_a_consumer_that_was_stopped_catches_up_after_restart(container_factory, rabbit_config):
    enrollment = container_factory(EnrollmentService, rabbit_config)
    supervision = container_factory(SupervisionService, rabbit_config)
    enrollment.start()
    supervision.start()
    supervision.stop()  # supervision is down while programmes are created
    with entrypoint_hook(enrollment, "create_program") as create_program:
        ids = [create_program(CALLER, {**PROGRAM, "name": f"Cup {i}"})["id"] for i in range(3)]
    eventually(lambda: all(ProgramDoc.objects.get(id=i).pending_events == [] for i in ids))
    assert ProgramFunnelDoc.objects(id__in=ids).count() == 0

    restarted = container_factory(SupervisionService, rabbit_config)
    restarted.start()
    assert eventually(lambda: ProgramFunnelDoc.objects(id__in=ids).count() == 3)


def test_events_are_queued_for_a_consumer_that_has_never_run_yet(container_factory, rabbit_config):
    # no supervision queue exists: enrollment declares every consumer queue at start-up
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        topology.consumer_queue("supervision", PROGRAM_CREATED).bind(connection.channel()).delete()
    enrollment = container_factory(EnrollmentService, rabbit_config)
    enrollment.start()
    with entrypoint_hook(enrollment, "create_program") as create_program:
        program = create_program(CALLER, PROGRAM)
    eventually(lambda: ProgramDoc.objects.get(id=program["id"]).pending_events == [])

    supervision = container_factory(SupervisionService, rabbit_config)
    supervision.start()
    assert eventually(lambda: ProgramFunnelDoc.objects(id=program["id"]).first())


def test_events_left_pending_by_a_crash_are_published_when_the_service_comes_back(container_factory, rabbit_config):
    # the state change and its event were written, then the service died before publishing
    from services.common.storage import connect
    connect("enrollment")
    envelope = program_created("p-crashed")
    ProgramDoc(id="p-crashed", school_id="jufe", name="Cup", season="2026", starts_on=date(2026, 3, 1),
               ends_on=date(2026, 6, 30), tracks=PROGRAM["tracks"], created_by="t",
               created_at=datetime.now(timezone.utc), pending_events=[envelope]).save(force_insert=True)
    supervision = container_factory(SupervisionService, rabbit_config)
    supervision.start()
    enrollment = container_factory(EnrollmentService, rabbit_config)
    enrollment.start()
    assert eventually(lambda: ProgramFunnelDoc.objects(id="p-crashed").first())
    assert eventually(lambda: ProgramDoc.objects.get(id="p-crashed").pending_events == [])


def test_an_rpc_whose_caller_gave_up_is_not_run_later(container_factory, rabbit_config):
    enrollment = container_factory(EnrollmentService, rabbit_config)
    enrollment.start()
    late = {"deadline": time.time() - 1}
    with ServiceRpcProxy("enrollment", rabbit_config, context_data=late, timeout=2) as proxy:
        with pytest.raises(RpcTimeout):
            proxy.create_program(CALLER, {**PROGRAM, "name": "Too late"})
    with ServiceRpcProxy("enrollment", rabbit_config, timeout=10) as proxy:
        assert [p for p in proxy.list_programs(CALLER)["items"] if p["name"] == "Too late"] == []


def test_events_appended_by_a_push_update_are_relayed_exactly_once_each(container_factory, rabbit_config):
    # $push (how a guarded update appends events) is stored differently by nx-27017;
    # the relay must publish each event and remove only what it published
    from services.common.storage import connect
    connect("enrollment")
    collection = ProgramDoc._get_collection()
    collection.insert_one({"_id": "p-push", "school_id": "jufe", "name": "Cup", "season": "2026",
                           "tracks": PROGRAM["tracks"], "created_by": "t", "pending_events": []})
    first, second = program_created("p-push-1"), program_created("p-push-2")
    collection.update_one({"_id": "p-push"}, {"$push": {"pending_events": {"$each": [first]}}})
    collection.update_one({"_id": "p-push"}, {"$push": {"pending_events": second}})
    counting = container_factory(CountingService, rabbit_config)
    counting.start()
    container_factory(EnrollmentService, rabbit_config).start()
    eventually(lambda: count_of("p-push-1") == 1 and count_of("p-push-2") == 1)
    assert eventually(lambda: collection.find_one({"_id": "p-push"})["pending_events"] == [])


def test_an_event_nobody_subscribes_to_yet_does_not_stall_the_relay(container_factory, rabbit_config):
    from services.common.storage import connect
    connect("enrollment")
    unheard = {**program_created("p-unheard"), "source": "nobody-listens", "event_id": "unheard-1"}
    heard = program_created("p-heard")
    ProgramDoc._get_collection().insert_one({"_id": "p-two", "school_id": "jufe", "name": "Cup",
                                             "pending_events": [unheard, heard]})
    counting = container_factory(CountingService, rabbit_config)
    counting.start()
    container_factory(EnrollmentService, rabbit_config).start()
    eventually(lambda: count_of("p-heard") == 1)
    assert eventually(lambda: ProgramDoc._get_collection().find_one({"_id": "p-two"})["pending_events"] == [])


def lose_definitions(amqp_uri, exchanges=True):
    """What a rebuilt node or a recreated vhost does: every queue (and exchange) gone."""
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for queue in topology.all_queues():
            queue.bind(channel).delete()
        for source in {queue.exchange.name for queue in topology.all_queues()} if exchanges else ():
            channel.exchange_delete(source)
        channel.close()


@pytest.mark.parametrize("exchanges", [True, False], ids=["queues-and-exchanges", "queues-only"])
def test_events_published_after_the_definitions_vanished_reach_a_consumer_that_was_down(
        container_factory, rabbit_config, exchanges):
    enrollment = container_factory(EnrollmentService, rabbit_config)
    enrollment.start()
    with entrypoint_hook(enrollment, "create_program") as create_program:
        create_program(CALLER, {**PROGRAM, "name": "Before"})  # the relay's connection is open
    lose_definitions(rabbit_config["AMQP_URI"], exchanges)  # while supervision is down
    with entrypoint_hook(enrollment, "create_program") as create_program:
        ids = [create_program(CALLER, {**PROGRAM, "name": f"After {i}"})["id"] for i in range(5)]
    eventually(lambda: all(ProgramDoc.objects.get(id=i).pending_events == [] for i in ids))
    supervision = container_factory(SupervisionService, rabbit_config)
    supervision.start()
    assert eventually(lambda: ProgramFunnelDoc.objects(id__in=ids).count() == 5)
