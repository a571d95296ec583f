"""``python -m bench.supervision``: supervision at the size of a large programme.

Seeds a running programme with ``--students`` admitted students, their platform
accounts and ``--records`` activity records, written in bulk (``insert_many``, with a
running count) straight into supervision's collections as the service itself would
have written them (built with services.supervision.domain), then measures, in one run
and against the raw stack on the same broker and database:

  1. telemetry ingestion: ``--ingest-records`` more records POSTed in batches of 5,000
     by ``--clients`` threads, from the first POST until supervision has stored every
     batch (readable, stages decided), and until its compaction has folded them into the
     summaries (records/s), beside bare pika publish with confirms of the same batches
     and bare ``insert_many`` of the same records into the same database;
  2. the funnel (GET /programs/{id}/funnel, one at a time: p50, p99);
  3. the idle check of that programme (POST /programs/{id}/checks): the first run, which
     claims every idle spell, and a second run, which finds them all handled.

It prints figures and never asserts a time; it exits non-zero only when a step could
not run. Defaults: 10,000 students, 1,000,000 seeded records, 100,000 ingested.
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

from bench import stack
from bench.load import percentile
from bench.stack import Stack, say
from contracts.examples import platinum_cup
from services.supervision import domain

SCHOOL = "bench-school"
BATCH = 5000
KINDS = ("login", "product_listed", "order_handled", "marketing_action", "after_sales_action")


def records_for(students, total, idle_share=0.1, prefix="r"):
    """``total`` records spread over the students' accounts in the last 20 days; the
    last ``idle_share`` of the students were last active 15+ days ago (idle)."""
    now = datetime.now(timezone.utc)
    idle_from = int(len(students) * (1 - idle_share))
    for n in range(total):
        s = n % len(students)
        days = 15 + (n % 5) if s >= idle_from else (n % 7) / 2
        yield {"record_id": f"{prefix}{n}", "account_id": f"acc-{students[s]}", "kind": KINDS[n % len(KINDS)],
               "at": (now - timedelta(days=days, seconds=n % 3600)).isoformat()}


def chunked(items, size):
    part = []
    for item in items:
        part.append(item)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part


def batches(students, total):
    return chunked(records_for(students, total), BATCH)


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
        # the service's own idle timer stays out of the way: the checks measured are the bench's
        # (it would otherwise claim the seeded spells during ingestion, disturbing both figures)
        os.environ.setdefault("PRAXIS_IDLE_CHECK_SECONDS", "86400")
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
        """A running programme, then its students, platform accounts and ``--records``
        activity records written straight into supervision's collections in bulk
        (``insert_many``, built with supervision's own domain functions, so they are the
        documents the service itself would have written), with a running count."""
        a = self.args
        say(f"[1] seeding a running programme: {a.students:,} admitted students, {a.records:,} records ...")
        body = platinum_cup("Bench cup", starts_on=date.today() - timedelta(days=30), days=120,
                            lock_after_days=60, capacity_ug=a.students, capacity_voc=a.students)
        answer = self.admin.post(self.api("/programs"), json=body, timeout=30)
        answer.raise_for_status()
        self.program_id = answer.json()["id"]
        self.students = [f"b{n:06d}" for n in range(a.students)]
        programs = self.db["programs"]
        self.wait(lambda: (programs.find_one({"_id": self.program_id}) or {}).get("started_at"), 120,
                  "the programme reached supervision")
        program = programs.find_one({"_id": self.program_id})
        program["id"] = program.pop("_id")
        self.admin.put(self.api(f"/programs/{self.program_id}/supervision-rules"),
                       json={"idle_days": 7, "grace_days": 3}, timeout=60).raise_for_status()
        t0 = time.perf_counter()
        accounts = self.seed_records(program, a.records)
        self.seed_students(program, accounts)
        seeded = time.perf_counter() - t0
        self.report("seeding (s; records/s through insert_many)", f"{seeded:.1f}; {a.records / seeded:,.0f}")

    def seed_records(self, program, total, chunk=10_000):
        """Insert ``total`` records in chunks, folding each chunk into the accounts'
        summaries in memory; then insert the accounts (mapped to their students)."""
        pid, school = program["id"], program["school_id"]
        activity = self.db["activity"]
        accounts = {s: domain.new_account(pid, school, f"acc-{s}") for s in self.students}
        done, t0, shown = 0, time.perf_counter(), 0
        for part in chunked(records_for(self.students, total, prefix="seed"), chunk):
            by_account = {}
            docs = []
            for r in part:
                at = datetime.fromisoformat(r["at"]).timestamp()
                docs.append({"_id": domain.record_id(pid, r), "batch_id": f"seed-{done}",
                             "account_id": r["account_id"], "kind": r["kind"], "ts": at})
                by_account.setdefault(r["account_id"][len("acc-"):], []).append({"kind": r["kind"], "ts": at})
            activity.insert_many(docs, ordered=False)
            for student, records in by_account.items():
                domain.apply_records(accounts[student], f"seed-{done}", records)
            done += len(part)
            if done - shown >= 100_000 or done == total:
                shown = done
                say(f"    {done:,} / {total:,} records ({done / (time.perf_counter() - t0):,.0f}/s)")
        for account in accounts.values():
            account["batches"] = []
        docs = []
        for student, account in accounts.items():
            docs.append({**{k: v for k, v in account.items() if k != "id"}, "_id": account["id"],
                         "student_id": student, "student_key": domain.student_key(pid, student),
                         "mapped_by": "bench", "_ws": [], "pending_events": []})
        for part in chunked(docs, 1000):
            self.db["accounts"].insert_many(part, ordered=False)
        return accounts

    def seed_students(self, program, accounts, chunk=1000):
        """The admitted students with their platform activity, and the funnel counter."""
        pid, school = program["id"], program["school_id"]
        admitted_ts = time.time() - 29 * domain.DAY
        docs = []
        for student in self.students:
            record = domain.new_student(pid, school, student, track="undergraduate")
            record.update(status="admitted", admitted_ts=admitted_ts, stages={"admitted": admitted_ts},
                          platform=domain.merge_platform([accounts[student]]), accounts=[f"acc-{student}"])
            record["idle_clock"] = domain.idle_clock_start(program, record)
            docs.append({**{k: v for k, v in record.items() if k != "id"}, "_id": record["id"],
                         "_ws": [], "pending_events": []})
        for n, part in enumerate(chunked(docs, chunk)):
            self.db["students"].insert_many(part, ordered=False)
        # the counter the admissions would have moved (as SupervisionRepository.count does)
        self.db["programs"].update_one({"_id": pid}, {"$inc": {"counts.admitted": len(docs), "rev": 1}})
        self.wait(lambda: self.stage("admitted") >= len(docs), 60, "the admitted counter")
        say(f"    {len(docs):,} students and {len(accounts):,} platform accounts")

    def stage(self, stage):
        stages = self.admin.get(self.api(f"/programs/{self.program_id}/funnel"), timeout=30).json()["stages"]
        return stages.get(stage) or 0

    def wait(self, check, seconds, what, every=0.2):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if check():
                return
            time.sleep(every)
        raise RuntimeError(f"{what}: not within {seconds} s")

    def ingestion(self):
        a = self.args
        n = a.ingest_records
        bodies = list(batches(self.students, n))
        say(f"[2] raw: bare insert_many of {n:,} records into the same database ...")
        raw = self.db["bench_raw_activity"]
        t0 = time.perf_counter()
        offset = 0
        for body in bodies:
            raw.insert_many([{"_id": f"raw:{offset + i}", **r} for i, r in enumerate(body)], ordered=False)
            offset += len(body)
        insert_rate = n / (time.perf_counter() - t0)
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
        pika_rate = n / (time.perf_counter() - t0)
        channel.queue_delete(queue)
        connection.close()
        self.report("bare pika publish with confirms (records/s)", f"{pika_rate:,.0f}")

        say(f"[4] Praxis: POST /telemetry of {n:,} records by {a.clients} clients -> projected ...")
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
        self.report("POST /telemetry accepted (records/s, 202s)", f"{n / posted:,.0f}")
        activity = self.db["activity"]
        total = a.records + n  # the seeded records and these
        # stored and readable when supervision has marked every batch handled (its inbox: a
        # few documents, so polling it costs the database next to nothing); every read adds
        # the batches not folded into the summaries yet
        inbox = self.db["inbox"]
        self.wait(lambda: len(list(inbox.find({"type": "telemetry.ingested.v1"}, {"_id": 1}))) >= len(bodies),
                  3600, "telemetry stored", every=0.5)
        stored = n / (time.perf_counter() - t0)
        self.report("telemetry POST -> stored, readable, stages decided (records/s)", f"{stored:,.0f}")
        self.report("ingestion / bare insert_many", f"{stored / insert_rate:.2f}")
        self.report("ingestion / bare pika publish with confirms", f"{stored / pika_rate:.2f}")
        # folded: the compaction (every PRAXIS_COMPACT_SECONDS) has taken every batch
        unfolded = self.db["unfolded_batches"]
        self.wait(lambda: unfolded.find_one({}, {"_id": 1}) is None, 3600, "telemetry folded", every=0.5)
        folded = n / (time.perf_counter() - t0)
        counted = sum(sum(d.get("counts", {}).values()) for d in self.db["accounts"].find(
            {"program_id": self.program_id}, {"counts": 1}))
        if activity.estimated_document_count() < total or counted < total:
            raise RuntimeError(f"telemetry projected short: {counted:,} records counted of {total:,}")
        self.report("telemetry POST -> folded into the summaries (records/s)", f"{folded:,.0f}")
        self.report("folded / bare insert_many", f"{folded / insert_rate:.2f}")

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
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="activity records seeded in bulk before the measurements")
    parser.add_argument("--ingest-records", type=int, default=100_000,
                        help="records POSTed through the API for the ingestion figure (on top of the seeded ones)")
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
