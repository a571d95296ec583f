"""The outbox relay on a broker that lost its definitions (a node rebuilt) while a
consumer was down: the other consumers declare their own queues when they reconnect,
so the event is routed somewhere and confirmed even though the missing consumer's
queue is not there yet; it must reach that queue too."""
import uuid
from types import SimpleNamespace

from kombu import Connection
from nameko.amqp.publish import Publisher

from contracts import topology
from contracts.enrollment import APPLICATION_SUBMITTED
from services.common.events import Outbox


def test_an_event_reaches_every_consumer_queue_after_the_broker_lost_its_definitions(rabbit):
    relay = Outbox()
    relay.publisher = Publisher(rabbit.uri, use_confirms=True, serializer="json")
    relay.container = SimpleNamespace(config={"AMQP_URI": rabbit.uri})
    supervision = topology.consumer_queue("supervision", APPLICATION_SUBMITTED)
    assessment = topology.consumer_queue("assessment", APPLICATION_SUBMITTED)

    def publish():
        event_id = uuid.uuid4().hex
        relay.publish({"source": APPLICATION_SUBMITTED.source, "type": APPLICATION_SUBMITTED.type,
                       "event_id": event_id, "correlation_id": event_id, "school_id": "jufe"})

    with Connection(rabbit.uri) as connection:
        topology.declare_all(connection)
    publish()  # the relay is connected, every queue is there
    rabbit.wipe()  # the node comes back with no definitions; supervision is down ...
    with Connection(rabbit.uri) as connection:
        assessment.bind(connection.default_channel).declare()  # ... assessment reconnected and declared its own
    publish()
    with Connection(rabbit.uri) as connection:
        channel = connection.default_channel
        assert assessment.bind(channel).queue_declare(passive=True).message_count == 1
        assert supervision.bind(channel).queue_declare(passive=True).message_count == 1
