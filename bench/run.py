"""``python -m bench``: the raw stack and Praxis measured in one run, side by side.

Pairs (raw -> Praxis), each reported as rate, p50 and p99 with the ratio Praxis/raw:
  1. HTTP, 16 client threads: bare Flask JSON endpoint (and bare Flask -> one pooled
     nameko RPC) -> gateway /health, GET /api/v1/programs/{id} (auth + pooled RPC + DB
     read), POST /api/v1/programs (RPC + DB write + outbox event), and POST with an
     Idempotency-Key.
  2. Database, one operation at a time: pymongo insert_one / find_one by _id ->
     ProgramRepository.add / get (mongoengine), same document, same nx-27017.
  3. Events, one at a time: pika publish waiting for each publisher confirm ->
     POST /programs until the supervision funnel answers 200 (outbox relay ->
     broker -> consumer -> funnel write, read back through the gateway).
Everything is bounded in count and in time; nothing asserts a time.
"""
import argparse
import json
import os
import signal
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone

import pika
import pymongo
import requests

from bench import stack
from bench.load import http_load, percentile, sequential
from bench.stack import Stack, say
from contracts.examples import platinum_cup

SCHOOL = "bench-school"


def programme(name="Platinum Cup 2026", **extra):
    """A valid POST /api/v1/programs body."""
    return platinum_cup(name, **extra)


class Bench:

    def __init__(self, args):
        self.args = args
        self.stack = Stack()
        self.results = {}     # key -> Result
        self.failed = []      # (what, why)
        self.notes = []
        self.step = 0

    # --- helpers --------------------------------------------------------------------
    def measure(self, key, title, fn):
        """Run one measurement; a failure is recorded and the run goes on."""
        self.step += 1
        say(f"[{self.step}] {title} ...")
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001  (reported at the end, exit code 1)
            self.failed.append((title, f"{exc.__class__.__name__}: {exc}"))
            say(f"    could not run: {exc.__class__.__name__}: {exc}")
            traceback.print_exc()
            return None
        self.results[key] = result
        if result.ok == 0:
            self.failed.append((title, f"no operation succeeded ({result.sample_error})"))
        say(f"    {_summary(result)}")
        return result

    def api(self, path):
        return f"{self.stack.system.base_url}/api/v1{path}"

    def keys(self, n, role="admin"):
        client = pymongo.MongoClient(self.stack.mongo_uri)
        try:
            from gateway.auth import create_key
            db = client[f"{stack.DB_PREFIX}_gateway"]
            return [create_key(SCHOOL, role, name=f"bench-{role}-{i}", db=db) for i in range(n)]
        finally:
            client.close()

    # --- the run ---------------------------------------------------------------------
    def run(self):
        a = self.args
        say(f"own vhost {self.stack.vhost} and own nx-27017; temp dir {self.stack.tmp}")
        self.stack.make_vhost()
        self.stack.start_database()
        say(f"nx-27017 on 127.0.0.1:{self.stack.db_port}; starting the bare Flask app ...")
        self.stack.start_bare()
        say("starting the Praxis system (five services + gateway) ...")
        t0 = time.perf_counter()
        self.stack.start_system()
        say(f"Praxis ready at {self.stack.system.base_url} after {time.perf_counter() - t0:.1f} s")
        self.client_keys = self.keys(a.clients + 1)
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"Bearer {self.client_keys[-1]}"

        parts = a.parts.split(",")
        if "burst" in parts or "growth" in parts:
            from bench.burst import Burst
            burst = Burst(self)
            try:
                if "burst" in parts:
                    burst.run_burst(a.students, a.connections)
                if "growth" in parts:
                    self.step += 1
                    say(f"[{self.step}] growth: {a.growth_sizes} students, up to {a.growth_records} "
                        "attendance records ...")
                    burst.run_growth([int(n) for n in a.growth_sizes.split(",")], a.growth_records)
            finally:
                burst.close()
        if "pairs" in parts:
            self.events_pair(fresh=True)
            self.http_pair()
            self.drain_backlog()
            self.events_pair(fresh=False)
            self.database_pair()

    # --- pair 3: events ----------------------------------------------------------------
    def events_pair(self, fresh):
        a = self.args
        if fresh:
            self.measure("pika_confirm", f"raw: pika publish, persistent, waiting for each confirm "
                         f"(up to {a.messages} messages)", self.pika_confirms)
            self.measure("pika_roundtrip", "raw: pika publish (confirmed) -> a consumer receives it, "
                         f"one at a time (up to {a.messages // 4})", self.pika_roundtrip)
            key, label = "event_fresh", "on a fresh system"
        else:
            key, label = "event_loaded", f"after the HTTP load ({self.programmes_stored()} programmes stored)"
        self.measure(key, f"Praxis: POST /programs -> funnel visible, one at a time, {label} "
                     f"(up to {a.events})", self.event_latency)
        stored = self.programmes_stored()
        self.measure(f"relay_query_{'fresh' if fresh else 'loaded'}",
                     f"diagnostic: the outbox relay's pending-events query on {stored} programmes (x20)",
                     lambda: self.relay_query(stored))

    def relay_query(self, stored):
        """The query the enrollment relay runs after every worker and every 2 s
        (services.common.events.Outbox.relay: the indexed outbox_pending flag; the
        full $elemMatch sweep runs only at start and every 30 s), timed with pymongo."""
        from services.common.events import FLAGGED
        client = pymongo.MongoClient(self.stack.mongo_uri)
        try:
            programs = client[f"{stack.DB_PREFIX}_enrollment"].programs
            result = sequential(f"relay query, {stored} programmes",
                                lambda i: isinstance(list(programs.find(FLAGGED, {"pending_events": 1}).limit(200)), list),
                                20, 10, self.stack.components("praxis"))
            result.note = f"{stored} programmes stored"
            return result
        finally:
            client.close()

    def pika_confirms(self):
        connection = pika.BlockingConnection(pika.URLParameters(self.stack.amqp_uri))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            queue = f"bench.raw.{uuid.uuid4().hex[:8]}"
            channel.queue_declare(queue, durable=True)
            body = json.dumps(self.sample_event()).encode()
            props = pika.BasicProperties(delivery_mode=2, content_type="application/json")

            def publish(i):
                channel.basic_publish("", queue, body, props)  # blocks until the broker confirms
                return True
            result = sequential("pika publish + confirm", publish, self.args.messages, 15,
                                components=self.stack.components("bare"))
            channel.queue_delete(queue)
            return result
        finally:
            connection.close()

    def pika_roundtrip(self):
        params = pika.URLParameters(self.stack.amqp_uri)
        queue = f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
        received = {}
        arrived = threading.Condition()
        stop = threading.Event()
        ready = threading.Event()

        def consume():
            connection = pika.BlockingConnection(params)
            try:
                channel = connection.channel()
                channel.queue_declare(queue, durable=True)
                channel.basic_qos(prefetch_count=50)

                def on_message(ch, method, properties, body):
                    ch.basic_ack(method.delivery_tag)
                    with arrived:
                        received[properties.message_id] = time.perf_counter()
                        arrived.notify_all()
                channel.basic_consume(queue, on_message)
                ready.set()
                while not stop.is_set():
                    connection.process_data_events(time_limit=0.05)
                channel.queue_delete(queue)
            finally:
                ready.set()
                connection.close()

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        if not ready.wait(15):
            raise RuntimeError("the raw consumer did not start")
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            body = json.dumps(self.sample_event()).encode()

            def roundtrip(i):
                message_id = uuid.uuid4().hex
                t0 = time.perf_counter()
                channel.basic_publish("", queue, body, pika.BasicProperties(
                    delivery_mode=2, message_id=message_id, content_type="application/json"))
                with arrived:
                    if not arrived.wait_for(lambda: message_id in received, timeout=5):
                        raise RuntimeError("message not received within 5 s")
                    return received.pop(message_id) - t0
            return sequential("pika publish -> consume", roundtrip, self.args.messages // 4, 10,
                              components=self.stack.components("bare"))
        finally:
            connection.close()
            stop.set()
            consumer.join(10)

    def sample_event(self):
        from contracts.enrollment import PROGRAM_CREATED
        from contracts.events import make_event
        program = self.sample_program()
        from services.enrollment import domain
        return make_event(PROGRAM_CREATED, domain.program_created_payload(program),
                          school_id=SCHOOL, actor="bench")

    def event_latency(self):
        """POST a programme, then poll (every ~2 ms) supervision's database until its
        funnel is stored, then GET the funnel through the gateway until it answers
        200. The latency is from sending the POST to the 200."""
        session = self.admin
        post_latencies, stored_latencies = [], []
        client = pymongo.MongoClient(self.stack.mongo_uri)
        funnels = client[f"{stack.DB_PREFIX}_supervision"].programs

        def once(i):
            t0 = time.perf_counter()
            answer = session.post(self.api("/programs"), json=programme(f"bench event {i}"), timeout=30)
            if answer.status_code != 201:
                raise RuntimeError(f"POST answered {answer.status_code}: {answer.text[:200]}")
            post_latencies.append(time.perf_counter() - t0)
            program_id = answer.json()["id"]
            url = self.api(f"/programs/{program_id}/funnel")
            deadline = t0 + 20
            while time.perf_counter() < deadline:
                if funnels.find_one({"_id": program_id}, {"_id": 1}) is not None:
                    stored_latencies.append(time.perf_counter() - t0)
                    break
                time.sleep(0.002)
            while time.perf_counter() < deadline:
                funnel = session.get(url, timeout=30)
                # a programme supervision has not heard of yet answers an empty funnel (started_at null)
                if funnel.status_code == 200 and funnel.json().get("started_at"):
                    return time.perf_counter() - t0
                if funnel.status_code not in (200, 404):
                    raise RuntimeError(f"funnel answered {funnel.status_code}: {funnel.text[:200]}")
                time.sleep(0.002)
            raise RuntimeError("the funnel was not visible within 20 s")
        try:
            result = sequential("POST -> funnel visible", once, self.args.events, 40,
                                components=self.stack.components("praxis"))
        finally:
            client.close()
        if post_latencies and stored_latencies:
            result.note = (f"the POST answered after p50 {_ms(percentile(sorted(post_latencies), 50))} ms; "
                           f"the funnel was in supervision's database p50 "
                           f"{_ms(percentile(sorted(stored_latencies), 50))} ms / p99 "
                           f"{_ms(percentile(sorted(stored_latencies), 99))} ms after the POST was sent; "
                           + result.note).strip("; ")
        return result

    def programmes_stored(self):
        client = pymongo.MongoClient(self.stack.mongo_uri)
        try:
            return client[f"{stack.DB_PREFIX}_enrollment"].programs.estimated_document_count()
        finally:
            client.close()

    def drain_backlog(self):
        """After the POST load: how long until every programme has its funnel, and
        where the events waited (still in the outbox, or queued at the broker)."""
        from contracts.enrollment import PROGRAM_CREATED
        from contracts.topology import consumer_queue
        from services.common.events import PENDING
        self.step += 1
        say(f"[{self.step}] after the POST load: waiting (up to 60 s) until every programme has its funnel ...")
        client = pymongo.MongoClient(self.stack.mongo_uri)
        connection = pika.BlockingConnection(pika.URLParameters(self.stack.amqp_uri))
        queue = consumer_queue("supervision", PROGRAM_CREATED).name
        try:
            channel = connection.channel()
            programs = client[f"{stack.DB_PREFIX}_enrollment"].programs
            funnels = client[f"{stack.DB_PREFIX}_supervision"].programs

            def sample():
                return (len(list(programs.find(PENDING, {"_id": 1}))),
                        channel.queue_declare(queue, passive=True).method.message_count,
                        programs.estimated_document_count(), funnels.estimated_document_count())
            t0 = time.perf_counter()
            first = sample()
            outbox_empty = queue_empty = None
            want = have = 0
            while time.perf_counter() - t0 < 60:
                pending, queued, want, have = sample()
                now = time.perf_counter() - t0
                if pending == 0 and outbox_empty is None:
                    outbox_empty = now
                if queued == 0 and queue_empty is None and outbox_empty is not None:
                    queue_empty = now
                if have >= want and pending == 0:
                    break
                time.sleep(0.25)
            done = time.perf_counter() - t0 if have >= want else None
        finally:
            connection.close()
            client.close()
        self.backlog = dict(seconds=done, want=want, have=have, outbox_at_end=first[0],
                            queued_at_end=first[1], outbox_empty=outbox_empty, queue_empty=queue_empty)
        say(f"    {_backlog_text(self.backlog)}")

    # --- pair 1: HTTP -----------------------------------------------------------------
    def http_pair(self):
        a = self.args
        load = dict(clients=a.clients, duration=a.seconds, warmup=1.0, max_requests=a.max_requests)
        where = f"{a.clients} clients, {a.seconds:g} s"

        def keyed(session, slot):
            session.headers["Authorization"] = f"Bearer {self.client_keys[slot]}"

        bare = f"{self.stack.bare_url}/health"
        self.measure("http_bare", f"raw: bare Flask JSON endpoint, gunicorn gevent x2 ({where})",
                     lambda: http_load("bare Flask", lambda s, i: s.get(bare, timeout=30),
                                       components=self.stack.components("bare"), **load))
        rpc = f"{self.stack.bare_url}/rpc"
        self.measure("http_bare_rpc", f"raw: bare Flask -> one pooled nameko RPC, same gunicorn ({where})",
                     lambda: http_load("bare Flask -> RPC", lambda s, i: s.get(rpc, timeout=30),
                                       components=self.stack.components("bare"), **load))
        health = f"{self.stack.system.base_url}/health"
        self.measure("http_health", f"Praxis: gateway /health ({where})",
                     lambda: http_load("/health", lambda s, i: s.get(health, timeout=30),
                                       components=self.stack.components("praxis"), **load))
        ids = []
        for i in range(50):
            answer = self.admin.post(self.api("/programs"), json=programme(f"bench read {i}"), timeout=30)
            if answer.status_code == 201:
                ids.append(answer.json()["id"])
        if not ids:
            self.failed.append(("programmes to read", "POST /programs never answered 201"))
        else:
            self.measure("http_get", f"Praxis: GET /api/v1/programs/{{id}} ({where})",
                         lambda: http_load("GET program", lambda s, i: s.get(
                             self.api(f"/programs/{ids[i % len(ids)]}"), timeout=30),
                             setup_session=keyed, components=self.stack.components("praxis"), **load))
        body = programme("bench load")
        self.measure("http_post", f"Praxis: POST /api/v1/programs ({where})",
                     lambda: http_load("POST program", lambda s, i: s.post(
                         self.api("/programs"), json=body, timeout=30),
                         setup_session=keyed, components=self.stack.components("praxis"), **load))
        run = uuid.uuid4().hex[:8]
        self.measure("http_post_idem", f"Praxis: POST /api/v1/programs with Idempotency-Key ({where})",
                     lambda: http_load("POST program + Idempotency-Key", lambda s, i: s.post(
                         self.api("/programs"), json=body, timeout=30,
                         headers={"Idempotency-Key": f"bench-{run}-{i}"}),
                         setup_session=keyed, components=self.stack.components("praxis"), **load))

    # --- pair 2: database --------------------------------------------------------------
    def sample_program(self, program_id=None):
        from contracts.base import load
        from contracts.enrollment import ProgramCreateSchema
        from services.enrollment import domain
        return domain.new_program(load(ProgramCreateSchema, programme()), school_id=SCHOOL,
                                  actor="bench", program_id=program_id or uuid.uuid4().hex)

    def database_pair(self):
        n = self.args.db_ops
        os.environ["MONGO_URI"] = self.stack.mongo_uri
        os.environ["PRAXIS_DB_PREFIX"] = stack.REPO_DB_PREFIX
        from contracts.enrollment import PROGRAM_CREATED
        from contracts.events import make_event
        from services.common.storage import connect, ensure_indexes
        from services.enrollment import domain
        from services.enrollment.models import DOCUMENTS, ProgramDoc
        from services.enrollment.repository import ProgramRepository

        connect("enrollment")
        ensure_indexes(DOCUMENTS)
        repository = ProgramRepository()

        def owed(program):
            return [make_event(PROGRAM_CREATED, domain.program_created_payload(program),
                               school_id=SCHOOL, actor="bench")]
        # the very document the repository writes, as mongoengine sends it
        programs = [self.sample_program() for _ in range(n)]
        raw_docs = [ProgramDoc(**p, pending_events=owed(p)).to_mongo().to_dict() for p in programs]
        repo_programs = [self.sample_program() for _ in range(n)]
        repo_events = [owed(p) for p in repo_programs]

        client = pymongo.MongoClient(self.stack.mongo_uri, tz_aware=True)
        try:
            raw = client[stack.RAW_DB].programs
            raw.create_index([("school_id", 1), ("season", 1)])
            raw.create_index([("school_id", 1), ("created_at", 1)])
            components = self.stack.components("praxis")
            self.measure("db_raw_insert", f"raw: pymongo insert_one ({n} documents, one at a time)",
                         lambda: sequential("insert_one", lambda i: raw.insert_one(raw_docs[i]).acknowledged,
                                            n, 15, components))
            self.measure("db_raw_find", f"raw: pymongo find_one by _id ({n}, one at a time)",
                         lambda: sequential("find_one", lambda i: raw.find_one(
                             {"_id": raw_docs[(i * 7) % n]["_id"]}) is not None, n, 15, components))
            self.measure("db_repo_add", f"Praxis: ProgramRepository.add ({n}, one at a time)",
                         lambda: sequential("ProgramRepository.add", lambda i: repository.add(
                             repo_programs[i], events=repo_events[i]) is not None, n, 20, components))
            self.measure("db_repo_get", f"Praxis: ProgramRepository.get ({n}, one at a time)",
                         lambda: sequential("ProgramRepository.get", lambda i: repository.get(
                             SCHOOL, repo_programs[(i * 7) % n]["id"]) is not None, n, 15, components))
        finally:
            client.close()

    # --- the report -------------------------------------------------------------------
    SECTIONS = [
        ("0. The sign-in burst, asyncio keep-alive client",
         [("raw", "burst_raw", "bare Flask -> RPC: insert+find+publish"),
          ("prx", "burst_praxis", "sign-in burst"),
          ("prx", "burst_request_path", "sign-in burst, consumers stopped")],
         [("burst_praxis", "burst_raw"), ("burst_request_path", "burst_raw")]),
        ("1. HTTP, 16 client threads, gunicorn gevent x2 workers",
         [("raw", "http_bare", "bare Flask JSON"),
          ("raw", "http_bare_rpc", "bare Flask -> pooled nameko RPC"),
          ("prx", "http_health", "gateway /health"),
          ("prx", "http_get", "GET /programs/{id}"),
          ("prx", "http_post", "POST /programs"),
          ("prx", "http_post_idem", "POST /programs + Idempotency-Key")],
         [("http_health", "http_bare"), ("http_get", "http_bare"), ("http_post", "http_bare"),
          ("http_post_idem", "http_bare"), ("http_get", "http_bare_rpc"), ("http_post", "http_bare_rpc")]),
        ("2. Database (same nx-27017), one operation at a time",
         [("raw", "db_raw_insert", "insert_one"),
          ("prx", "db_repo_add", "ProgramRepository.add"),
          ("raw", "db_raw_find", "find_one by _id"),
          ("prx", "db_repo_get", "ProgramRepository.get")],
         [("db_repo_add", "db_raw_insert"), ("db_repo_get", "db_raw_find")]),
        ("3. Events, one at a time",
         [("raw", "pika_confirm", "pika publish + confirm"),
          ("raw", "pika_roundtrip", "pika publish -> consumer"),
          ("prx", "event_fresh", "POST -> funnel visible (fresh)"),
          ("prx", "event_loaded", "POST -> funnel visible (after load)"),
          ("diag", "relay_query_fresh", "relay query, fresh"),
          ("diag", "relay_query_loaded", "relay query, after load")],
         [("event_fresh", "pika_confirm"), ("event_loaded", "pika_confirm"),
          ("event_fresh", "pika_roundtrip")]),
    ]

    def report(self):
        r = self.results
        labels = {key: label for _, rows, _ in self.SECTIONS for _, key, label in rows}
        print()
        print(f"{'':7}{'measurement':<38}{'ok':>7}{'err':>6}{'rate/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'box CPU':>9}{'others':>8}")
        for title, rows, _ in self.SECTIONS:
            print(title)
            for side, key, label in rows:
                if key.startswith("relay_query") and r.get(key):
                    label = f"relay query, {r[key].note}"
                _row(side, label, r.get(key))
        print("  (box CPU: all cores busy; others: share of the box used by processes this run did not"
              " start, e.g. another test suite)")
        print()
        print("Ratios Praxis/raw (rate: share of the raw rate; p50/p99: times the raw latency):")
        for _, _, ratios in self.SECTIONS:
            for praxis_key, raw_key in ratios:
                praxis, raw = r.get(praxis_key), r.get(raw_key)
                label = f"{labels[praxis_key]} / {labels[raw_key]}"
                if praxis is None or raw is None or not praxis.ok or not raw.ok:
                    print(f"  {label:<66} n/a (a side did not run)")
                    continue
                line = (f"  {label:<66} rate {praxis.rate / raw.rate:6.3f}x   p50 {praxis.p50 / raw.p50:6.1f}x"
                        f"   p99 {praxis.p99 / raw.p99:6.1f}x")
                if praxis_key.startswith(("http", "burst")) and raw_key.startswith(("http", "burst")):
                    line += f"   server CPU/request {_server_cpu(praxis) / _server_cpu(raw):5.1f}x"
                print(line)
        print()
        print("Where the CPU went (ms of CPU per successful operation, by process; the load "
              "generator is this process; kernel irq/softirq is mostly the loopback network stack; others: "
              "processes this run did not start):")
        for res in r.values():
            if not res.ok:
                continue
            parts = {**{k: v for k, v in res.cpu_by_component.items() if v > 0},
                     "load generator": res.client_cpu}
            parts["kernel irq/softirq"] = res.irq_seconds
            parts["others"] = max(0.0, res.box_busy_seconds - sum(parts.values()))
            total = sum(parts.values())
            shown = ", ".join(f"{k} {v * 1000 / res.ok:.2f}" for k, v in
                              sorted(parts.items(), key=lambda kv: -kv[1]) if v * 1000 / res.ok >= 0.05)
            print(f"  {res.name:<34} total {total * 1000 / res.ok:6.2f}: {shown}")
        disturbed = [res.name for res in r.values() if res.ok and _others(res) > 0.2]
        if disturbed:
            print()
            print(f"Warning: other work used more than 20% of the box during {len(disturbed)} of "
                  f"{len(r)} measurements ({', '.join(disturbed)}): those figures, and ratios built on "
                  f"them, are disturbed; run again on a quieter box to compare.")
        for key in ("burst_raw", "burst_praxis", "burst_request_path"):
            res = r.get(key)
            if res and res.ok:
                nx = res.cpu_by_component.get("nx-27017", 0.0)
                print(f"  {res.name}: server CPU {_server_cpu(res) * 1000:.1f} ms/request (nx-27017 "
                      f"{nx * 1000 / res.ok:.1f} ms), load generator {res.client_cpu * 1000 / res.ok:.2f} ms/request"
                      + (f"; {res.note}" if res.note else ""))
        from bench.burst import growth_report
        growth_report(getattr(self, "growth", None))
        print()
        if getattr(self, "backlog", None):
            print(f"Event backlog after the POST load: {_backlog_text(self.backlog)}")
        for key in ("event_fresh", "event_loaded"):
            res = r.get(key)
            if res and res.note:
                print(f"  {key}: {res.note}")
        print("  ProgramRepository.add is insert + get (it reads the stored programme back).")
        for res in r.values():
            if res.errors:
                print(f"  {res.name}: {res.errors} failed requests, e.g. {res.sample_error}")


def _others(res):
    """Share of the box's capacity used by processes this run did not start."""
    ours = sum(res.cpu_by_component.values()) + res.client_cpu + res.irq_seconds
    capacity = res.elapsed * (os.cpu_count() or 1)
    return max(0.0, res.box_busy_seconds - ours) / capacity if capacity else 0.0


def _server_cpu(res):
    """CPU seconds per request spent outside the load generator."""
    return sum(res.cpu_by_component.values()) / res.ok


def _backlog_text(b):
    def at(t):
        return f"{t:.1f} s" if t is not None else "not within 60 s"
    ready = (f"all {b['want']} funnels present {b['seconds']:.1f} s after the load ended"
             if b["seconds"] is not None else f"only {b['have']} of {b['want']} funnels 60 s after the load ended")
    drain = (f", ~{b['outbox_at_end'] / b['outbox_empty']:.0f} events/s"
             if b["outbox_empty"] and b["outbox_at_end"] else "")
    return (f"{ready}; when the load ended {b['outbox_at_end']} programmes still held unpublished "
            f"events (outbox empty after {at(b['outbox_empty'])}{drain}) and {b['queued_at_end']} events "
            f"waited in supervision's queue (empty after {at(b['queue_empty'])})")


def _ms(seconds):
    return f"{seconds * 1000:.1f}" if seconds is not None else "-"


def _summary(res):
    return (f"{res.ok} ok, {res.errors} failed in {res.elapsed:.1f} s: {res.rate:,.0f}/s, "
            f"p50 {_ms(res.p50)} ms, p99 {_ms(res.p99)} ms, box CPU {res.box_busy:.0%}"
            + (f" ({res.note})" if res.note else ""))


def _row(side, label, res):
    if res is None:
        print(f"  {side:<5}{label:<38}{'did not run':>30}")
        return
    print(f"  {side:<5}{label:<38}{res.ok:>7}{res.errors:>6}{res.rate:>10,.0f}{_ms(res.p50):>9}"
          f"{_ms(res.p99):>9}{res.box_busy:>9.0%}{_others(res):>8.0%}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="HTTP client threads (16)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per HTTP measurement (8)")
    parser.add_argument("--max-requests", type=int, default=40_000, help="cap per HTTP measurement")
    parser.add_argument("--db-ops", type=int, default=1000, help="operations per database measurement")
    parser.add_argument("--messages", type=int, default=2000, help="raw confirmed publishes")
    parser.add_argument("--events", type=int, default=50, help="programmes timed through the event path")
    parser.add_argument("--parts", default="burst,growth,pairs",
                        help="what to run, comma-separated: burst, growth, pairs (all)")
    parser.add_argument("--students", type=int, default=2000, help="students in the sign-in burst (2000)")
    parser.add_argument("--connections", type=int, default=32, help="connections of the burst (32)")
    parser.add_argument("--growth-sizes", default="1000,5000,10000", help="students per growth step")
    parser.add_argument("--growth-records", type=int, default=200_000,
                        help="attendance records at the largest growth step (200000)")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the temp dir with the services' logs (kept anyway after a failure)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    bench = Bench(args)
    started = time.perf_counter()
    say(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} before starting; everything on loopback")
    code = 0
    try:
        bench.run()
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        code = 130
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        bench.failed.append(("set-up", f"{exc.__class__.__name__}: {exc}"))
    finally:
        say("stopping the Praxis system, the bare app, the database; deleting the vhost ...")
        for problem in bench.stack.stop(keep_files=bool(bench.failed) or args.keep_logs):
            say(problem)
        if bench.failed or args.keep_logs:
            say(f"logs kept in {bench.stack.tmp}")
    if bench.results or getattr(bench, "growth", None):
        bench.report()
    print(f"\nbench: finished in {time.perf_counter() - started:.0f} s")
    if bench.failed:
        print("bench: could not run:")
        for what, why in bench.failed:
            print(f"  - {what}: {why}")
        return code or 1
    return code
