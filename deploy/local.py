"""Run Praxis on this machine: the broker check, the embedded database (nx-27017),
the five services and the gateway, each its own process.

    python -m deploy.local run       what `make run` does (Ctrl-C stops it all)
    python -m deploy.local broker    make sure RabbitMQ answers on AMQP_URI

The test suite's end-to-end fixtures start the system with the same functions.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import requests
from kombu import Connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DB_BIN = ROOT / ".venv-db" / "bin" / "nx-27017"
SERVICE_CLASSES = {
    "enrollment": "EnrollmentService", "content": "ContentService",
    "assessment": "AssessmentService", "incentives": "IncentivesService",
    "supervision": "SupervisionService",
    "webhooks": "WebhooksService",
}


def say(message):
    print(f"praxis: {message}", flush=True)


def broker_answers(uri, timeout=3):
    try:
        with Connection(uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def ensure_broker(uri):
    """RabbitMQ must answer; start the local one when it is installed but stopped."""
    if broker_answers(uri):
        return
    host = urlparse(uri).hostname
    server = shutil.which("rabbitmq-server")
    if host not in ("127.0.0.1", "localhost") or server is None:
        sys.exit(f"praxis: RabbitMQ does not answer on {uri}. Install it "
                 "(apt-get install rabbitmq-server) or point AMQP_URI at one.")
    say("starting the local RabbitMQ (rabbitmq-server -detached)")
    subprocess.run([server, "-detached"], check=False)
    deadline = time.time() + 90
    while time.time() < deadline:
        if broker_answers(uri):
            return
        time.sleep(1)
    sys.exit(f"praxis: RabbitMQ did not come up on {uri} within 90 s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for(check, what, timeout=60, process=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not up within {timeout} s")


def start_database(data_dir, port, log_dir):
    """nx-27017 (MongoDB wire protocol over SQLite), one file per database."""
    if not DB_BIN.exists():
        sys.exit("praxis: the embedded database is not installed (run `make install`)")
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_stale_database(log_dir / "nx-27017.pid")
    if port_open(port):
        raise RuntimeError(f"port {port} is taken: stop what runs there or set MONGO_URI")
    process = subprocess.Popen(
        [str(DB_BIN), "--data-dir", str(data_dir), "--port", str(port),
         "--log-file", str(log_dir / "nx-27017.log"), "--pid-file", str(log_dir / "nx-27017.pid")],
        stdout=open(log_dir / "nx-27017.out", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    wait_for(lambda: port_open(port), "the database", 30, process)
    return process


def start_service(name, env, log_dir, replica=1):
    log_name = name if replica == 1 else f"{name}-{replica}"
    return subprocess.Popen(
        [str(BIN / "nameko"), "run", "--config", str(ROOT / "deploy" / "nameko.yaml"),
         f"services.{name}.service:{SERVICE_CLASSES[name]}"],
        cwd=ROOT, env=env, stdout=open(log_dir / f"{log_name}.log", "ab"),
        stderr=subprocess.STDOUT, start_new_session=True)


def start_gateway(env, port, log_dir, workers=2):
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "--worker-class", "gevent", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
         # above the app's own limits (gateway/hardening.py), so the app answers 414/431 as problem+json
         "--limit-request-line", "8190", "--limit-request-field_size", "16380", "gateway:create_app()"],
        cwd=ROOT, env=env, stdout=open(log_dir / "gateway.log", "ab"),
        stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(base_url, timeout=90, processes=()):
    def ready():
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[-1]} exited with code {p.returncode}")
        try:
            return requests.get(f"{base_url}/ready", timeout=5).status_code == 200
        except requests.RequestException:
            return False
    wait_for(ready, "the system", timeout)


def stop(processes, timeout=10):
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + timeout
    for p in processes:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Supervised:
    """One process kept running: when it exits, it is started again after a backoff
    (1, 2, 4 ... 30 s; back to 1 s once it has stayed up a minute), and it says so."""

    FIRST, MOST, STABLE_AFTER = 1.0, 30.0, 60.0

    def __init__(self, name, start, process=None, clock=time.monotonic, tell=say):
        """``start()`` starts the process; ``process``: one already started by it."""
        self.name, self._start, self._clock, self._tell = name, start, clock, tell
        self.restarts = 0
        self.backoff = self.FIRST
        self._due = None
        self.process = process or start()
        self._started_at = clock()

    def check(self):
        """Call often: restarts the process when it has exited and its backoff passed."""
        if self.process.poll() is None:
            if self._clock() - self._started_at >= self.STABLE_AFTER:
                self.backoff = self.FIRST
            return self.process
        now = self._clock()
        if self._due is None:
            self._due = now + self.backoff
            self._tell(f"{self.name} exited with code {self.process.returncode}; "
                       f"restarting it in {self.backoff:g} s")
        elif now >= self._due:
            self.restarts += 1
            self.backoff = min(self.backoff * 2, self.MOST)
            try:
                self.process = self._start()
            except (OSError, RuntimeError) as exc:
                self._due = now + self.backoff
                self._tell(f"{self.name} could not start ({exc}); trying again in {self.backoff:g} s")
                return self.process
            self._started_at, self._due = now, None
            self._tell(f"{self.name} restarted (pid {self.process.pid}, restart {self.restarts})")
        return self.process


class System:
    """The whole system as processes (services + gateway, and the database
    unless MONGO_URI is given). Used by `make run` and the end-to-end tests."""

    def __init__(self, var_dir, env=None, gateway_port=8080, db_port=27017, replicas=1):
        """``replicas``: processes per service, side by side (competing consumers,
        one outbox relay and one set of timers each); keys ``name``, ``name-2`` ..."""
        self.replicas = replicas
        self.var_dir = Path(var_dir)
        self.env = dict(env or os.environ)
        self.gateway_port = gateway_port
        self.db_port = db_port
        self.processes = []
        self.database = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.gateway_port}"

    def start(self, services=tuple(SERVICE_CLASSES)):
        log_dir = self.var_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        if port_open(self.gateway_port):
            raise RuntimeError(f"port {self.gateway_port} is taken (is Praxis already running?)")
        self.env.setdefault("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
        ensure_broker(self.env["AMQP_URI"])
        if "MONGO_URI" not in self.env:
            self.database = start_database(self.var_dir / "db", self.db_port, log_dir)
            self.env["MONGO_URI"] = f"mongodb://127.0.0.1:{self.db_port}/"
        self.env["PYTHONPATH"] = str(ROOT)
        self.services = {_replica_key(name, n): start_service(name, self.env, log_dir, n)
                         for name in services for n in range(1, self.replicas + 1)}
        self.gateway = start_gateway(self.env, self.gateway_port, log_dir)
        self.processes = [*self.services.values(), self.gateway]
        wait_ready(self.base_url, processes=self.processes)
        return self

    def replicas_of(self, name):
        return [key for key in self.services if key.split("-")[0] == name]

    def kill_service(self, name):
        """SIGKILL (every process of the service), as a crash would: no clean
        shutdown, unacked messages go back."""
        for key in self.replicas_of(name):
            self.services[key].kill()
            self.services[key].wait()

    def start_service_again(self, *names):
        """Start the services again (every replica), then wait until the system is ready."""
        for key in (key for name in names for key in self.replicas_of(name)):
            old = self.services[key]
            self.services[key] = _start_replica(key, self.env, self.var_dir / "log")
            self.processes = [p for p in self.processes if p is not old] + [self.services[key]]
        wait_ready(self.base_url, processes=self.processes)

    def supervise(self):
        """Keep every process running (`make run`): restart what exited, with backoff."""
        if not hasattr(self, "_supervised"):
            log_dir = self.var_dir / "log"
            self._supervised = {
                key: Supervised(key, lambda k=key: _start_replica(k, self.env, log_dir), process)
                for key, process in self.services.items()}
            self._supervised["gateway"] = Supervised(
                "gateway", lambda: start_gateway(self.env, self.gateway_port, log_dir), self.gateway)
            if self.database is not None:  # restarted on its own files
                self._supervised["database"] = Supervised("database", lambda: start_database(
                    self.var_dir / "db", self.db_port, log_dir), self.database)
        for name, supervised in self._supervised.items():
            process = supervised.check()
            if name == "gateway":
                self.gateway = process
            elif name == "database":
                self.database = process
            else:
                self.services[name] = process
        self.processes = [*self.services.values(), self.gateway]

    def stop(self):
        stop(self.processes)
        if self.database is not None:
            stop([self.database])


def _replica_key(name, replica):
    return name if replica == 1 else f"{name}-{replica}"


def _start_replica(key, env, log_dir):
    name, _, replica = key.partition("-")
    return start_service(name, env, log_dir, int(replica or 1))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_stale_database(pid_file):
    """A database left running by an earlier `make run` that was killed hard."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"nx-27017" in cmdline:
        say(f"stopping a database left running by an earlier run (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the old database to stop", 15)


def run():
    """`make run`: everything up on the embedded default; Ctrl-C stops it all."""
    var_dir = ROOT / "var"
    system = System(var_dir)
    say("starting RabbitMQ check, database, five services and the gateway ...")
    # also when started from a script, where background jobs ignore SIGINT
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        system.start()
        say(f"ready: {system.base_url}/ready  (API docs: {system.base_url}/api/docs)")
        say(f"logs: {var_dir / 'log'}; database files: {var_dir / 'db'}")
        say("make an API key: .venv/bin/praxis keys create --school demo --role admin")
        say("Ctrl-C stops everything")
        say("a process that exits is restarted (with backoff); /ready names what is missing")
        while True:
            system.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping ...")
    except RuntimeError as exc:
        say(f"could not start: {exc}; see {var_dir / 'log'}")
        system.stop()
        sys.exit(1)
    system.stop()
    say("stopped")


def main(argv=None):
    command = (argv or sys.argv[1:] or ["run"])[0]
    if command == "run":
        run()
    elif command == "broker":
        ensure_broker(os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
