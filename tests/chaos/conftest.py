"""Chaos: the whole system (five services and the gateway, started as `make run`
starts them, and kept running by the same supervision) on a private RabbitMQ node
and a private nx-27017, which the tests kill, freeze, restart and wipe."""
import os
import threading
import time
from contextlib import contextmanager

import pytest
import requests

from deploy import local
from gateway.auth import create_key
from tests.conftest import RUN_ID
from tests.e2e.conftest import Client
from tests.processes import PrivateDatabase, PrivateRabbit, rabbit_installed

RPC_TIMEOUT = 5.0  # the gateway's deadline in these tests
REPLICAS = 2  # processes per service, side by side: competing consumers, two relays, two timer sets


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    if not rabbit_installed():
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbit"), f"praxis-chaos-{RUN_ID}")
    node.start()
    yield node
    node.close()


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    database = PrivateDatabase(tmp_path_factory.mktemp("nx"))
    yield database
    database.close()


class Keeper:
    """Runs System.supervise() as `make run` does (a process that exits is started
    again with backoff), except for the services a test holds down."""

    def __init__(self, system):
        self.system = system
        self.held = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        system.supervise()  # from now on every process is supervised
        self.thread = threading.Thread(target=self._run, daemon=True, name="keeper")
        self.thread.start()

    def _run(self):
        while not self._stop.wait(0.3):
            with self._lock:
                supervised = getattr(self.system, "_supervised", {})
                for name in self.held:
                    for key in self.system.replicas_of(name):  # not restarted while held
                        supervised[key]._due = float("inf")
                self.system.supervise()

    def kill(self, name):
        """SIGKILL, as a crash would; supervision starts it again (after 1 s)."""
        with self._lock:
            self.system.kill_service(name)

    @contextmanager
    def holding(self, name):
        """SIGKILL the service and keep it down inside the block; started again after."""
        with self._lock:
            self.held.add(name)
            self.system.kill_service(name)
        try:
            yield
        finally:
            with self._lock:
                self.held.discard(name)
                for key in self.system.replicas_of(name):
                    self.system._supervised[key]._due = 0

    def restarts(self):
        """Restarts per service (all its replicas), of the gateway and the database."""
        counts = {}
        for key, supervised in self.system._supervised.items():
            name = key.split("-")[0]
            counts[name] = counts.get(name, 0) + supervised.restarts
        return counts

    def stop(self):
        self._stop.set()
        self.thread.join()


@contextmanager
def running_system(var_dir, amqp_uri, database, replicas=REPLICAS, **env):
    """The whole system on this broker and database, supervised by a Keeper."""
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URI": database.uri,
           "PRAXIS_DB_PREFIX": f"chaos{RUN_ID}", "PRAXIS_RPC_TIMEOUT": str(RPC_TIMEOUT),
           # both assessment processes scan for passed deadlines every 2 s (30 s by default)
           "PRAXIS_DEADLINE_SCAN_SECONDS": "2", **env}
    running = local.System(var_dir, env=env, gateway_port=local.free_port(), replicas=replicas)
    try:
        running.start()
    except RuntimeError as exc:
        running.stop()
        pytest.fail(f"the system did not start: {exc}\n{log_tails(running)}")
    running.keeper = Keeper(running)
    try:
        yield running
    finally:
        running.keeper.stop()
        running.stop()


@pytest.fixture(scope="module")
def system(rabbit, database, tmp_path_factory):
    with running_system(tmp_path_factory.mktemp("system"), rabbit.uri, database) as running:
        yield running


def log_tails(system, chars=3000):
    logs = system.var_dir / "log"
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(logs.glob("*.log")))


def clients(system, database):
    """``make(school, role, partner=None)``: a Client of this system with a fresh API key."""
    import pymongo
    gateway_db = pymongo.MongoClient(database.uri)[f"{system.env['PRAXIS_DB_PREFIX']}_gateway"]

    def make(school, role, partner=None):
        return Client(system.base_url, create_key(school, role, partner_id=partner, db=gateway_db))
    return make


@pytest.fixture(scope="module")
def client_for(system, database):
    return clients(system, database)


def gateway_workers(system):
    """The pids of the gateway's worker processes (children of gunicorn's master)."""
    master = system.gateway.pid
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(entry))
    return found


def wait_ready(system, timeout=90):
    """Every service answers again (without anybody restarting them by hand)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(f"{system.base_url}/ready", timeout=10)
            if last.status_code == 200:
                return last.json()
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout} s: {getattr(last, 'text', last)}\n{log_tails(system)}")
