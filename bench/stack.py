"""What the benchmark runs against, all its own and all on loopback: a RabbitMQ
vhost made for this run, an nx-27017 on a free port in a temporary directory,
the bare Flask app under gunicorn, and the Praxis system (deploy.local.System).
Everything started here is stopped here, also on error or Ctrl-C."""
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

import requests

from deploy import local

BASE_AMQP_URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
DB_PREFIX = "bench"            # the system's databases: bench_enrollment, bench_gateway, ...
REPO_DB_PREFIX = "benchrepo"   # the repository pair (no outbox relay reads these)
RAW_DB = "benchraw"            # the bare pymongo pair


def say(message):
    print(f"bench: {message}", flush=True)


def _rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)


def _children(pid):
    """Direct children of a process (gunicorn's workers)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return found


def rabbitmq_pids():
    """The local broker's Erlang VM (read-only: only its CPU time is read)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"beam" in cmdline and b"rabbit" in cmdline:
            pids.append((b"/var/lib/rabbitmq" in cmdline, int(entry)))
    # the machine's broker; private test nodes (other suites' broker-fault tests) are others
    main = [pid for system_home, pid in pids if system_home]
    return main or [pid for _, pid in pids]


class Stack:

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="praxis-bench-"))
        self.vhost = f"praxis-bench-{secrets.token_hex(4)}"
        self.vhost_made = False
        self.database = None
        self.bare = None
        self.bare_service = None
        self.system = None
        self.rabbit = []

    # --- setting up ------------------------------------------------------------
    def make_vhost(self):
        parts = urlparse(BASE_AMQP_URI)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise RuntimeError(f"AMQP_URI must be a loopback broker for the benchmark ({BASE_AMQP_URI})")
        if not shutil.which("rabbitmqctl"):
            raise RuntimeError("rabbitmqctl is not installed: cannot make the benchmark's vhost")
        made = _rabbitmqctl("add_vhost", self.vhost)
        if made.returncode != 0:
            raise RuntimeError(f"rabbitmqctl add_vhost failed: {made.stderr.strip()}")
        self.vhost_made = True
        user = parts.username or "guest"
        perms = _rabbitmqctl("set_permissions", "-p", self.vhost, user, ".*", ".*", ".*")
        if perms.returncode != 0:
            raise RuntimeError(f"rabbitmqctl set_permissions failed: {perms.stderr.strip()}")
        self.amqp_uri = urlunparse(parts._replace(path="/" + quote(self.vhost, safe="")))
        self.rabbit = rabbitmq_pids()
        return self.amqp_uri

    def start_database(self):
        self.db_port = local.free_port()
        (self.tmp / "nx").mkdir()
        self.database = local.start_database(self.tmp / "nx" / "db", self.db_port, self.tmp / "nx")
        self.mongo_uri = f"mongodb://127.0.0.1:{self.db_port}/"
        return self.mongo_uri

    def start_bare(self):
        """The bare nameko service and the bare Flask app (bench/bare_*.py)."""
        env = {**os.environ, "AMQP_URI": self.amqp_uri, "MONGO_URI": self.mongo_uri, "PYTHONPATH": str(local.ROOT)}
        self.bare_service = subprocess.Popen(
            [str(local.BIN / "nameko"), "run", "--broker", self.amqp_uri, "bench.bare_service:BareService"],
            cwd=local.ROOT, env=env, stdout=open(self.tmp / "bare-nameko.log", "ab"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.bare_port = local.free_port()
        self.bare = subprocess.Popen(
            [str(local.BIN / "gunicorn"), "--worker-class", "gevent", "--workers", "2",
             "--bind", f"127.0.0.1:{self.bare_port}", "--graceful-timeout", "5", "bench.bare_app:app"],
            cwd=local.ROOT, env=env, stdout=open(self.tmp / "bare-gunicorn.log", "ab"),
            stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{self.bare_port}"

        def up(path):
            def check():
                if self.bare_service.poll() is not None:
                    raise RuntimeError(f"the bare nameko service exited ({self.tmp / 'bare-nameko.log'})")
                try:
                    return requests.get(f"{url}{path}", timeout=5).status_code == 200
                except requests.RequestException:
                    return False
            return check
        local.wait_for(up("/health"), "the bare Flask app", 30, self.bare)
        local.wait_for(up("/rpc"), "the bare nameko service", 60, self.bare)
        self.bare_url = url
        return url

    def start_system(self):
        env = {**os.environ, "AMQP_URI": self.amqp_uri, "MONGO_URI": self.mongo_uri,
               "PRAXIS_DB_PREFIX": DB_PREFIX,
               # measure capacity, not the per-key policy (6000/min per key by default)
               "PRAXIS_RATE_LIMIT_PER_MINUTE": os.environ.get("PRAXIS_RATE_LIMIT_PER_MINUTE", "100000000")}
        self.system = local.System(self.tmp / "system", env=env, gateway_port=local.free_port())
        try:
            self.system.start()
        except RuntimeError as exc:
            raise RuntimeError(f"the Praxis system did not start: {exc}\n{self.log_tails()}") from exc
        return self.system

    def log_tails(self, chars=2000):
        logs = self.tmp / "system" / "log"
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
                         for p in sorted(logs.glob("*.log")))

    # --- who uses the CPU ---------------------------------------------------------
    def components(self, which=None):
        """Every process the benchmark started (and the broker): name -> pids, read
        at each measurement, so a breakdown shows what else used the CPU meanwhile.
        (``which`` is kept for readability at the call sites.)"""
        def everything():
            found = {}
            if self.bare is not None:
                found["bare gunicorn"] = [self.bare.pid, *_children(self.bare.pid)]
            if self.bare_service is not None:
                found["bare nameko"] = [self.bare_service.pid]
            s = self.system
            if s is not None and s.processes:
                found["gateway"] = [s.gateway.pid, *_children(s.gateway.pid)]
                found.update({name: [p.pid] for name, p in s.services.items()})
            if self.database is not None:
                found["nx-27017"] = [self.database.pid]
            found["rabbitmq"] = self.rabbit
            return found
        return everything

    # --- tearing down -------------------------------------------------------------
    def stop(self, keep_files=False):
        """Stop all; ``keep_files`` leaves the logs in the temp dir (after a failure)."""
        problems = []
        for what, step in (("the Praxis system", lambda: self.system and self.system.stop()),
                           ("the bare app", lambda: self.bare and local.stop([self.bare])),
                           ("the bare service", lambda: self.bare_service and local.stop([self.bare_service])),
                           ("the database", lambda: self.database and local.stop([self.database])),
                           ("the vhost", self._delete_vhost)):
            try:
                step()
            except Exception as exc:  # noqa: BLE001  (go on stopping the rest)
                problems.append(f"stopping {what}: {exc}")
        if not keep_files:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def _delete_vhost(self):
        if self.vhost_made:
            done = _rabbitmqctl("delete_vhost", self.vhost)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip())
            self.vhost_made = False
