"""Private infrastructure that a test may break: its own RabbitMQ node and its own
nx-27017, on ports and under directories of their own (the machine's broker and
any other test's database are never touched)."""
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from deploy import local

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # the scripts themselves (/usr/sbin's wrappers switch user)


def rabbit_installed():
    return (RABBIT_BIN / "rabbitmq-server").exists() or shutil.which("rabbitmq-server") is not None


def _rabbit_tool(name):
    path = RABBIT_BIN / name
    return str(path) if path.exists() else shutil.which(name)


class PrivateRabbit:
    """A RabbitMQ node of our own: its node name, AMQP and distribution ports, data,
    logs and Erlang cookie under ``base``; no plugins (management off)."""

    def __init__(self, base, name, home=None):
        """``home``: where the Erlang cookie lives (nodes of one cluster share it)."""
        self.base = Path(base)
        self.node = f"{name}@localhost"
        self.port, self.dist_port = local.free_port(), local.free_port()
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        for folder in ("home", "mnesia", "log"):
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ, "HOME": str(home or self.base / "home"),  # its own .erlang.cookie
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),  # none: the defaults
        }
        self.process = None

    def start(self, timeout=90):
        (self.base / "mnesia").mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [_rabbit_tool("rabbitmq-server")], env=self.env, cwd=self.base,
            stdout=open(self.base / "server.out", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        local.wait_for(lambda: local.broker_answers(self.uri, timeout=1), f"RabbitMQ node {self.node}",
                       timeout, self.process)
        return self

    @property
    def pid(self):
        """The Erlang VM's own pid (the one to stop, freeze or kill)."""
        return int((self.base / "rabbit.pid").read_text().strip())

    def ctl(self, *args, timeout=60):
        return subprocess.run([_rabbit_tool("rabbitmqctl"), "-n", self.node, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def stop(self):
        """Graceful (SIGTERM, as systemd stops it): the node closes its connections
        and writes its state. (rabbitmqctl stop does the same, seconds later: the
        CLI's own Erlang VM must boot first.)"""
        if self.process is None:
            return
        os.kill(self.pid, signal.SIGTERM)
        self._wait_exit()

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        self._wait_exit()

    def freeze(self):
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.pid, signal.SIGCONT)

    def wipe(self):
        """Stopped and started with no definitions at all: a node rebuilt."""
        self.stop()
        shutil.rmtree(self.base / "mnesia")
        self.start()

    def _wait_exit(self, timeout=60):
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def close(self):
        if self.process is None:
            return
        try:
            self.thaw()
            self.stop()
        except Exception:
            self.kill()


class PrivateCluster:
    """Three (``size``) private nodes joined in one RabbitMQ cluster."""

    def __init__(self, base, name, size=3):
        base = Path(base)
        (base / "home").mkdir(parents=True, exist_ok=True)
        self.nodes = [PrivateRabbit(base / f"n{i}", f"{name}-{i}", home=base / "home")
                      for i in range(1, size + 1)]

    @property
    def uri(self):
        """Every node, for kombu's failover (a client moves to the next one)."""
        return ";".join(node.uri for node in self.nodes)

    def start(self):
        first, *others = self.nodes
        first.start()
        for node in others:
            node.start()
            for step in (("stop_app",), ("join_cluster", first.node), ("start_app",)):
                done = node.ctl(*step)
                if done.returncode != 0:
                    raise RuntimeError(f"{node.node} {' '.join(step)}: {done.stdout}{done.stderr}")
        return self

    def running_nodes(self):
        status = self.nodes[0].ctl("cluster_status", "--formatter", "json")
        return json.loads(status.stdout)["running_nodes"] if status.returncode == 0 else []

    def close(self):
        for node in reversed(self.nodes):
            node.close()


class PrivateDatabase:
    """nx-27017 of our own, that a test may kill and start again on its files."""

    def __init__(self, base):
        self.base, self.port = Path(base), local.free_port()
        self.base.mkdir(parents=True, exist_ok=True)
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.start()

    def start(self):
        self.process = local.start_database(self.base / "db", self.port, self.base)

    def kill(self):
        self.process.kill()
        self.process.wait()

    def close(self):
        local.stop([self.process])
