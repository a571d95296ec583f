"""``python -m bench.supervision``: supervision at the size of a large programme.

Seeds a running programme with ``--students`` admitted students (enrollment's
student.admitted events, as enrollment publishes them) and their platform accounts,
then measures, in one run and against the raw stack on the same broker and database:

  1. telemetry ingestion: ``--records`` activity records POSTed in batches of 5,000 by
     ``--clients`` threads, from the first POST until supervision has projected the last
     record (records/s), beside bare pika publish with confirms of the same batches and
     bare ``insert_many`` of the same records into the same database;
  2. the funnel (GET /programs/{id}/funnel, one at a time: p50, p99);
  3. the idle check of that programme (POST /programs/{id}/checks): the first run, which
     claims every idle spell, and a second run, which finds them all handled.

It prints figures and never asserts a time; it exits non-zero only when a step could
not run. Defaults: 10,000 students, 1,000,000 records (about 10 minutes here).
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pika
import pymongo
import requests
from nameko.amqp.publish import Publisher

from bench import stack
from bench.load import percentile
from bench.stack import Stack, say
from contracts import topology
from contracts.enrollment import STUDENT_ADMITTED
from contracts.events import make_event
from contracts.examples import platinum_cup

SCHOOL = "bench-school"
BATCH = 5000
KINDS = ("login", "product_listed", "order_handled", "marketing_action", "after_sales_action")


def records_for(students, total, idle_share=0.1):
    """``total`` records spread over the students' accounts in the last 20 days; the
    last ``idle_share`` of the students were last active 15+ days ago (idle)."""
    now = datetime.now(timezone.utc)
    idle_from = int(len(students) * (1 - idle_share))
    for n in range(total):
        s = n % len(students)
        days = 15 + (n % 5) if s >= idle_from else (n % 7) / 2
        yield {"record_id": f"r{n}", "account_id": f"acc-{students[s]}", "kind": KINDS[n % len(KINDS)],
               "at": (now - timedelta(days=days, seconds=n % 3600)).isoformat()}


def batches(students, total):
    batch = []
    for record in records_for(students, total):
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class SupervisionBench:

    def __init__(self, args):
        self.args = args
        self.stack = Stack()
        self.figures = []
        self.failed = []

    def api(self, path):
        return f"{self.stack.system.base_url}/api/v1{path}"

    def report(self, what, value):
        self.figures.append((what, value))
        say(f"    {what}: {value}")

    def run(self):
        a = self.args
        os.environ.setdefault("PRAXIS_RPC_TIMEOUT", "120")  # the first idle check of a big programme
        self.stack.make_vhost()
        self.stack.start_database()
        say("starting the Praxis system (five services + gateway) ...")
        self.stack.start_system()
        client = pymongo.MongoClient(self.stack.mongo_uri)
        self.db = client[f"{stack.DB_PREFIX}_supervision"]
        from gateway.auth import create_key
        gateway_db = client[f"{stack.DB_PREFIX}_gateway"]
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"Bearer {create_key(SCHOOL, 'admin', db=gateway_db)}"
        try:
            self.seed()
            self.ingestion()
            self.funnel()
            self.idle_check()
        finally:
            client.close()

    def seed(self):
        a = self.args
        say(f"[1] seeding a running programme with {a.students} admitted students ...")
        body = platinum_cup("Bench cup", starts_on=date.today() - timedelta(days=30), days=120,
                            lock_after_days=60, capacity_ug=a.students, capacity_voc=a.students)
        answer = self.admin.post(self.api("/programs"), json=body, timeout=30)
        answer.raise_for_status()
        self.program_id = answer.json()["id"]
        self.students = [f"b{n:06d}" for n in range(a.students)]
        publisher = Publisher(self.stack.amqp_uri)
        t0 = time.perf_counter()
        for n, student in enumerate(self.students):
            event = make_event(STUDENT_ADMITTED, {"program_id": self.program_id, "application_id": f"a-{student}",
                                                  "student_id": student, "track": "undergraduate",
                                                  "reason": "bench"}, school_id=SCHOOL, actor="bench")
            publisher.publish(event, exchange=topology.event_exchange("enrollment"), routing_key=event["type"])
        self.wait(lambda: self.stage("admitted") >= a.students, 600, "admissions projected")
        self.report("admissions projected (events/s, publish to funnel)",
                    f"{a.students / (time.perf_counter() - t0):,.0f}")
        self.admin.put(self.api(f"/programs/{self.program_id}/supervision-rules"),
                       json={"idle_days": 7, "grace_days": 3}, timeout=60).raise_for_status()
        for start in range(0, len(self.students), BATCH):
            mapped = self.admin.post(self.api(f"/programs/{self.program_id}/platform-accounts"), json={
                "accounts": [{"account_id": f"acc-{s}", "student_id": s}
                             for s in self.students[start:start + BATCH]]}, timeout=300)
            mapped.raise_for_status()

    def stage(self, stage):
        stages = self.admin.get(self.api(f"/programs/{self.program_id}/funnel"), timeout=30).json()["stages"]
        return stages.get(stage) or 0

    def wait(self, check, seconds, what):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what}: not within {seconds} s")

    def ingestion(self):
        a = self.args
        bodies = list(batches(self.students, a.records))
        say(f"[2] raw: bare insert_many of {a.records:,} records into the same database ...")
        raw = self.db["bench_raw_activity"]
        t0 = time.perf_counter()
        offset = 0
        for body in bodies:
            raw.insert_many([{"_id": f"raw:{offset + i}", **r} for i, r in enumerate(body)], ordered=False)
            offset += len(body)
        insert_rate = a.records / (time.perf_counter() - t0)
        self.report("bare insert_many (records/s)", f"{insert_rate:,.0f}")
        raw.drop()

        say(f"[3] raw: bare pika publish with confirms of the same {len(bodies)} batches ...")
        connection = pika.BlockingConnection(pika.URLParameters(self.stack.amqp_uri))
        channel = connection.channel()
        channel.confirm_delivery()
        queue = f"bench-raw-{uuid.uuid4().hex[:6]}"
        channel.queue_declare(queue, durable=True)
        t0 = time.perf_counter()
        for body in bodies:
            channel.basic_publish("", queue, json.dumps({"records": body}).encode(),
                                  pika.BasicProperties(delivery_mode=2, content_type="application/json"))
        pika_rate = a.records / (time.perf_counter() - t0)
        channel.queue_delete(queue)
        connection.close()
        self.report("bare pika publish with confirms (records/s)", f"{pika_rate:,.0f}")

        say(f"[4] Praxis: POST /telemetry of {a.records:,} records by {a.clients} clients -> projected ...")
        todo, lock, errors = list(bodies), threading.Lock(), []
        accepted_at = []

        def client():
            session = requests.Session()
            session.headers.update(self.admin.headers)
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                answer = session.post(self.api(f"/programs/{self.program_id}/telemetry"),
                                      json={"records": body}, timeout=120)
                if answer.status_code != 202:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")
                accepted_at.append(time.perf_counter())
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(a.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        posted = time.perf_counter() - t0
        if errors:
            raise RuntimeError(f"{len(errors)} POSTs failed, e.g. {errors[0]}")
        self.report("POST /telemetry accepted (records/s, 202s)", f"{a.records / posted:,.0f}")
        activity = self.db["activity"]
        self.wait(lambda: activity.estimated_document_count() >= a.records, 3600, "telemetry projected")
        accounts = self.db["accounts"]
        self.wait(lambda: sum(sum(d.get("counts", {}).values()) for d in accounts.find(
            {"program_id": self.program_id}, {"counts": 1})) >= a.records, 600, "account summaries")
        projected = a.records / (time.perf_counter() - t0)
        self.report("telemetry POST -> projection (records/s)", f"{projected:,.0f}")
        self.report("ingestion / bare insert_many", f"{projected / insert_rate:.2f}")
        self.report("ingestion / bare pika publish with confirms", f"{projected / pika_rate:.2f}")

    def funnel(self):
        say("[5] Praxis: GET /funnel, one at a time (200) ...")
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            self.admin.get(self.api(f"/programs/{self.program_id}/funnel"), timeout=30).raise_for_status()
            times.append(time.perf_counter() - t0)
        times.sort()
        self.report("funnel p50 / p99 (ms)",
                    f"{percentile(times, 50) * 1000:.1f} / {percentile(times, 99) * 1000:.1f}")

    def idle_check(self):
        say("[6] Praxis: the idle check of the programme (first run claims every spell, then again) ...")
        for label in ("first run", "second run"):
            t0 = time.perf_counter()
            answer = self.admin.post(self.api(f"/programs/{self.program_id}/checks"), timeout=600)
            answer.raise_for_status()
            self.report(f"idle check, {label} (s; idle, reclaimed)",
                        f"{time.perf_counter() - t0:.2f}; {answer.json()['idle']}, {answer.json()['reclaimed']}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.supervision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    bench = SupervisionBench(args)
    ok = True
    try:
        bench.run()
    except Exception as exc:  # noqa: BLE001  (reported, exit code 1)
        say(f"could not run: {exc.__class__.__name__}: {exc}")
        ok = False
    finally:
        problems = bench.stack.stop(keep_files=args.keep_logs or not ok)
        for problem in problems:
            say(problem)
    say("figures:")
    for what, value in bench.figures:
        print(f"  {what:<55} {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
