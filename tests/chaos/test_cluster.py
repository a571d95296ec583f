"""A three-node RabbitMQ cluster with quorum queues (PRAXIS_QUEUE_TYPE=quorum): the
node every process is connected to is stopped under writes; nothing is lost and the
services carry on (they fail over to the next node of AMQP_URI)."""
import json

import pytest

from tests.chaos.conftest import clients, running_system
from tests.chaos.flows import applications_under, assert_no_process_died
from tests.conftest import RUN_ID
from tests.processes import PrivateCluster, PrivateDatabase, rabbit_installed


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not rabbit_installed():
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    cluster = PrivateCluster(tmp_path_factory.mktemp("cluster"), f"praxis-cluster-{RUN_ID}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def cluster_system(cluster, tmp_path_factory):
    database = PrivateDatabase(tmp_path_factory.mktemp("cluster-nx"))
    try:
        with running_system(tmp_path_factory.mktemp("cluster-system"), cluster.uri, database, replicas=1,
                            PRAXIS_QUEUE_TYPE="quorum") as system:
            system.database_for_keys = database
            yield system
    finally:
        database.close()


def queue_types(node):
    listed = node.ctl("list_queues", "name", "type", "--formatter", "json")
    return {q["name"]: q["type"] for q in json.loads(listed.stdout)}


def test_a_node_stopped_under_writes_loses_nothing_and_the_services_carry_on(cluster_system, cluster):
    system = cluster_system
    first, second, _ = cluster.nodes
    types = queue_types(second)
    praxis = {name: kind for name, kind in types.items() if name.startswith(("praxis.", "rpc-"))}
    assert praxis and set(praxis.values()) == {"quorum"}, types  # replicated on the nodes
    before = system.keeper.restarts()

    def stop_the_first_node(burst, *_):
        burst.wait_acked(15)
        first.stop()  # every process is connected to it (first in AMQP_URI)
    try:
        burst = applications_under(system, clients(system, system.database_for_keys), stop_the_first_node)
    finally:
        first.start()
    assert 503 in burst.answers or any(isinstance(k, str) for k in burst.answers)  # the loss was felt
    assert_no_process_died(system, before)
