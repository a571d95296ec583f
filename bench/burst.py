"""The sign-in burst against its raw reference, and the growth table.

Burst: a programme with ``students`` admitted students (seeded straight into
content's projection, as student.admitted would leave them), one session with an
open check-in window, and every student signing in once through the gateway
(``POST /sessions/{id}/sign-ins``, the LMS acting for the student), over
``connections`` keep-alive connections of the asyncio client (bench.aload).
Raw reference, same run, same client: the same number of ``POST /record`` to the
bare Flask app (same gunicorn settings), one pooled nameko RPC to a bare service
that inserts, finds by id and publishes one event. Afterwards: every student
recorded once, and how long until the outbox held nothing.

Growth: for 1,000 / 5,000 / 10,000 students (and attendance records up to
``--growth-records``) the time of the reads schools use during a session
(check-in status, the attendance list, one sign-in), the outbox relay's full
sweep, and each process's memory.
"""
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import pymongo

from bench import stack
from bench.aload import burst, json_request
from bench.load import sequential
from bench.stack import say

TRACK = "undergraduate"
PAUSED = ("supervision", "incentives", "webhooks")  # the consumers a sign-in's events reach


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def session_body(title="Bench session"):
    start = datetime.now(timezone.utc)
    return {"title": title, "module": "store-ops", "form": "offline_lecture",
            "starts_at": _iso(start), "ends_at": _iso(start + timedelta(hours=2)), "place": "Room 101",
            "instructor": {"id": "teacher-li", "kind": "teacher", "name": "Li"}}


class Burst:
    """``Burst(bench)``: uses the bench's stack, admin session and report."""

    def __init__(self, bench):
        self.bench = bench
        self.stack = bench.stack
        self.client = pymongo.MongoClient(self.stack.mongo_uri)
        self.content = self.client[f"{stack.DB_PREFIX}_content"]

    def close(self):
        self.client.close()

    # --- set-up -----------------------------------------------------------------
    def programme(self, name):
        from bench.run import programme
        answer = self.bench.admin.post(self.bench.api("/programs"), json=programme(name), timeout=30)
        if answer.status_code != 201:
            raise RuntimeError(f"POST /programs answered {answer.status_code}: {answer.text[:200]}")
        program_id = answer.json()["id"]
        deadline = time.monotonic() + 30
        while self.content.programs.find_one({"_id": program_id}, {"_id": 1}) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("content never learnt of the programme (program.created)")
            time.sleep(0.05)
        return program_id

    def admit(self, program_id, students, prefix):
        """Seed content's projection of admitted students (what student.admitted leaves)."""
        ids = [f"{prefix}-{n:05d}" for n in range(students)]
        at = datetime.now(timezone.utc).timestamp()
        for start in range(0, len(ids), 1000):
            self.content.students.insert_many([
                {"_id": f"{program_id}:{s}", "school_id": stack_school(), "program_id": program_id,
                 "student_id": s, "track": TRACK, "status": "admitted", "last_event_at": at, "v": 1}
                for s in ids[start:start + 1000]], ordered=False)
        return ids

    def session(self, program_id, title="Bench session"):
        api, admin = self.bench.api, self.bench.admin
        answer = admin.post(api(f"/programs/{program_id}/sessions"), json=session_body(title), timeout=30)
        if answer.status_code != 201:
            raise RuntimeError(f"POST sessions answered {answer.status_code}: {answer.text[:200]}")
        session_id = answer.json()["id"]
        window = admin.post(api(f"/sessions/{session_id}/checkin-window"),
                            json={"minutes": 120, "period_seconds": 600, "grace_seconds": 60}, timeout=30)
        if window.status_code != 201:
            raise RuntimeError(f"opening check-in answered {window.status_code}: {window.text[:200]}")
        return session_id

    def code(self, session_id):
        return self.bench.admin.get(self.bench.api(f"/sessions/{session_id}/checkin-code"), timeout=30).json()["code"]

    def sign_ins(self, session_id, students, keys, code):
        path = f"/api/v1/sessions/{session_id}/sign-ins"
        return [json_request("POST", path, {"Authorization": f"Bearer {keys[n % len(keys)]}",
                                            "X-Acting-User": f"student:{s}"},
                             {"student_id": s, "code": code, "device_id": f"phone-{s}",
                              "address": f"10.{n // 60000}.{n // 250 % 240}.{n % 250}"})
                for n, s in enumerate(students)]

    # --- the burst ------------------------------------------------------------------
    def run_burst(self, students, connections):
        b = self.bench
        program_id = self.programme("bench burst")
        ids = self.admit(program_id, students, "burst")
        session_id = self.session(program_id)
        code = self.code(session_id)
        keys = b.keys(connections, role="lms")
        body = {"student_id": "s", "code": "123456", "device_id": "phone", "address": "10.0.0.1"}
        raw = [json_request("POST", "/record", {}, {**body, "student_id": s}) for s in ids]
        # warm both sides' connection and RPC pools (not counted)
        burst("warm-up", self.stack.bare_url, raw[:4 * connections], connections)
        burst("warm-up", self.stack.system.base_url, [
            json_request("GET", f"/api/v1/sessions/{session_id}/checkin-code",
                         {"Authorization": f"Bearer {b.client_keys[n % len(b.client_keys)]}"})
            for n in range(4 * connections)], connections)
        b.measure("burst_raw", f"raw: {students} POST /record (bare Flask -> pooled RPC -> insert + "
                  f"find + publish), {connections} keep-alive connections",
                  lambda: burst("raw record", self.stack.bare_url, raw, connections,
                                components=self.stack.components())[0])
        requests_ = self.sign_ins(session_id, ids, keys, code)
        answers = {}

        def praxis():
            result, got = burst("sign-in burst", self.stack.system.base_url, requests_, connections,
                                components=self.stack.components())
            answers["all"] = got
            return result
        result = b.measure("burst_praxis", f"Praxis: {students} students sign in to one session, "
                           f"{connections} keep-alive connections", praxis)
        if result is None:
            return
        t0 = time.perf_counter()
        flagged = None
        while time.perf_counter() - t0 < 60:
            flagged = self.content.attendance.count_documents({"session_id": session_id, "outbox_pending": 1})
            if flagged == 0:
                break
            time.sleep(0.1)
        drained = time.perf_counter() - t0 if flagged == 0 else None
        stored = self.content.attendance.count_documents({"session_id": session_id})
        created = sum(1 for status, _ in answers["all"] if status == 201)
        result.note = (f"{created} answered 201, {stored} records stored for {students} students "
                       f"({'each once' if stored == students == created else 'MISMATCH'}); outbox empty "
                       + (f"{drained:.1f} s after the burst" if drained is not None else "not within 60 s"))
        say(f"    {result.note}")
        self.run_request_path(program_id, ids, keys, connections)

    def run_request_path(self, program_id, ids, keys, connections):
        """The same burst to a second session with the consumers of attendance.recorded
        and credits.awarded killed (SIGKILL: supervision, incentives, webhooks): the request
        path alone, the ceiling that no consumer-side change can pass. Their events
        wait in the durable queues; once they are started again, supervision must see
        every student of that session."""
        b, system = self.bench, self.stack.system
        session_id = self.session(program_id, "Bench session, consumers stopped")
        requests_ = self.sign_ins(session_id, ids, keys, self.code(session_id))
        for name in PAUSED:
            system.kill_service(name)
        try:
            result = b.measure("burst_request_path", f"Praxis, {', '.join(PAUSED)} stopped: {len(ids)} students "
                               f"sign in to a second session, {connections} keep-alive connections",
                               lambda: burst("request path", system.base_url, requests_, connections,
                                             components=self.stack.components())[0])
        finally:
            system.start_service_again(*PAUSED)
        if result is None:
            return
        t0 = time.perf_counter()
        students = self.client[f"{stack.DB_PREFIX}_supervision"].students
        seen = 0
        while time.perf_counter() - t0 < 180:
            seen = students.count_documents({"program_id": program_id, f"attended.{session_id}": {"$exists": True}})
            if seen == len(ids):
                break
            time.sleep(0.5)
        result.note = (f"after the restart supervision saw {seen} of {len(ids)} students of that session"
                       + (f", {time.perf_counter() - t0:.1f} s later" if seen == len(ids) else " within 180 s"))
        say(f"    {result.note}")

    # --- growth -------------------------------------------------------------------------
    def run_growth(self, sizes, records):
        """Reads at growing size. Attendance records of other sessions are seeded so
        that the collection reaches ``records`` at the largest size."""
        b = self.bench
        rows = []
        for size in sizes:
            program_id = self.programme(f"bench growth {size}")
            ids = self.admit(program_id, size, f"g{size}")
            session_id = self.session(program_id, f"growth {size}")
            # half the students signed in already, in no particular order (records as a
            # sign-in leaves them)
            signed = sorted(random.Random(size).sample(ids, size // 2))
            self.seed_records(program_id, session_id, signed, "present")
            target = int(records * size / max(sizes))
            self.fill_attendance(program_id, ids, target)
            total = self.content.attendance.estimated_document_count()
            code = self.code(session_id)
            staff = {"Authorization": f"Bearer {b.client_keys[0]}"}
            lms = b.keys(1, role="lms")[0]
            row = {"students": size, "attendance": total}
            api = self.stack.system.base_url
            self.applications(program_id, ids)
            for key, path, reads in (
                    # the floor of the same path on this box, now: one read by _id
                    ("session", f"/api/v1/sessions/{session_id}", 9),
                    ("checkin_status", f"/api/v1/sessions/{session_id}/checkin-status?limit=100", 9),
                    ("attendance_list", f"/api/v1/sessions/{session_id}/attendance", 5),
                    ("roster", f"/api/v1/programs/{program_id}/roster", 5),
                    ("roster_1000", f"/api/v1/programs/{program_id}/roster?limit=1000", 5),
                    ("roster_csv", f"/api/v1/programs/{program_id}/roster.csv", 5),
                    ("applications", f"/api/v1/programs/{program_id}/applications?limit=50", 5),
                    ("funnel", f"/api/v1/programs/{program_id}/funnel", 5)):
                cpu = key in ("session", "checkin_status")  # what the servers spent on each read
                res, answers = burst(key, api, [json_request("GET", path, staff)] * reads, 1,
                                     **({"components": self.stack.components()} if cpu else {}))
                row[key] = res.p50 if res.ok else None
                if cpu and res.ok:
                    # the shared broker's VM counts other vhosts' traffic too: left out
                    row[f"{key}_cpu"] = {name: seconds / res.ok for name, seconds in res.cpu_by_component.items()
                                         if name != "rabbitmq"}
                row[f"{key}_bytes"] = len(answers[-1][1]) if answers and answers[-1] else 0
                if not res.ok:
                    say(f"    {key}: {res.sample_error}")
            late = sorted(set(ids) - set(signed))[:20]
            res, _ = burst("sign-in", api, self.sign_ins(session_id, late, [lms], code), 1)
            row["sign_in"] = res.p50 if res.ok else None
            row["full_sweep"], row["flagged_query"] = self.full_sweep()
            row["memory"] = self.memory()
            rows.append(row)
            say(f"    {size} students, {total} attendance records: " + ", ".join(
                f"{k} {v * 1000:.1f} ms" for k, v in row.items()
                if k in ("session", "checkin_status", "attendance_list", "roster", "roster_1000", "roster_csv",
                         "applications", "funnel", "sign_in", "full_sweep", "flagged_query") and v is not None))
        b.growth = rows

    def applications(self, program_id, ids):
        """Seed enrollment's admitted applications (as selection leaves them)."""
        from services.enrollment import domain
        from services.enrollment.models import ApplicationDoc
        now = datetime.now(timezone.utc)
        apps = self.client[f"{stack.DB_PREFIX}_enrollment"].applications
        for start in range(0, len(ids), 1000):
            docs = []
            for n, s in enumerate(ids[start:start + 1000], start):
                app = domain.new_application(
                    {"student_id": s, "name": f"Student {n}", "track": TRACK, "major": "Commerce",
                     "year_of_study": 2, "prior_courses": [], "motivation": ""},
                    {"id": program_id}, school_id=stack_school(), actor="lms:bench", now=now)
                app.update(status="admitted", score=60 + n % 40, score_source="quiz", decided_at=now,
                           decision_reason=f"rank {n + 1}")
                docs.append(ApplicationDoc(**app).to_mongo().to_dict())
            apps.insert_many(docs, ordered=False)

    def seed_records(self, program_id, session_id, students, status):
        now = datetime.now(timezone.utc)
        for start in range(0, len(students), 1000):
            self.content.attendance.insert_many([
                {"_id": f"{session_id}:{s}", "school_id": stack_school(), "session_id": session_id,
                 "program_id": program_id, "instructor_id": "teacher-li", "student_id": s,
                 "status": status, "source": "checkin", "signed_in_at": now, "device_id": f"phone-{s}",
                 "address": None, "flags": [], "minutes_present": None, "replay_share": None,
                 "presence": [], "corrected": False, "history": [], "updated_at": now,
                 "pending_events": [], "rev": 0}
                for s in students[start:start + 1000]], ordered=False)

    def fill_attendance(self, program_id, ids, target):
        """Records of earlier sessions of the programme until the collection holds ``target``."""
        while self.content.attendance.estimated_document_count() < target:
            missing = target - self.content.attendance.estimated_document_count()
            self.seed_records(program_id, f"past-{uuid.uuid4().hex[:8]}", ids[:missing], "present")

    def full_sweep(self):
        """The relay's queries on content's attendance, timed alone: (the full sweep's
        ``PENDING``, the flagged one's ``FLAGGED``)."""
        from services.common.events import FLAGGED, PENDING
        out = []
        for query in (PENDING, FLAGGED):
            res = sequential("relay query", lambda i: isinstance(
                list(self.content.attendance.find(query, {"pending_events": 1}).limit(200)), list), 3, 30)
            out.append(res.p50 if res.ok else None)
        return out

    def memory(self):
        """Resident memory (MB) of each process the run started."""
        out = {}
        for name, pids in self.stack.components()().items():
            if name == "rabbitmq":
                continue
            total = 0
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    pass
            out[name] = total / 1024
        return out


def stack_school():
    from bench.run import SCHOOL
    return SCHOOL


def growth_report(rows):
    if not rows:
        return
    print()
    print("Growth (one programme per size; p50 of 5 reads through the gateway, 9 of session and "
          "check-in status, one client, and the size of the answer; sign-in: p50 of 20; session: "
          "GET /sessions/{id}, one read by _id, the floor of the path in this run):")
    reads = (("session", "session"), ("checkin_status", "check-in status"), ("attendance_list", "attendance list"),
             ("roster", "roster"), ("roster_1000", "roster ?limit=1000"), ("roster_csv", "roster.csv"),
             ("applications", "applications"), ("funnel", "funnel"))
    print(f"  {'students':>9}{'attendance':>11}" + "".join(f"{title:>19}" for _, title in reads)
          + f"{'one sign-in':>13}{'full sweep':>12}{'flagged query':>15}")

    def ms(v):
        return f"{v * 1000:.1f} ms" if v is not None else "-"
    for r in rows:
        print(f"  {r['students']:>9,}{r['attendance']:>11,}"
              + "".join(f"{ms(r.get(key)):>12} {r.get(key + '_bytes', 0) / 1024:>5.0f}k" for key, _ in reads)
              + f"{ms(r['sign_in']):>13}{ms(r['full_sweep']):>12}{ms(r.get('flagged_query')):>15}")
    print("  server CPU per read (ms; gateway, services, nx-27017; the shared broker left out):")
    for r in rows:
        for key in ("session", "checkin_status"):
            cpu = r.get(f"{key}_cpu")
            if cpu:
                print(f"  {r['students']:>9,} {key}: {sum(cpu.values()) * 1000:.1f} ms (" + ", ".join(
                    f"{k} {v * 1000:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= 0.0001) + ")")
    print("  memory (MB resident) at each size:")
    for r in rows:
        print(f"  {r['students']:>9,}: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["memory"].items())))

