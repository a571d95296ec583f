"""Publishing an event on the test's broker, as its source service would."""
from nameko.amqp.publish import Publisher

from contracts import topology


def publish(rabbit_config, envelope):
    Publisher(rabbit_config["AMQP_URI"]).publish(
        envelope, exchange=topology.event_exchange(envelope["source"]), routing_key=envelope["type"])
