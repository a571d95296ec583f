"""An in-memory SupervisionRepository for unit tests (same methods, same rev guard)."""
import copy

from services.supervision import domain
from services.supervision.repository import SupervisionRepository  # noqa: F401  (the interface it fakes)


class FakeRecords:
    def __init__(self):
        self.docs = {}
        self.events = []  # every event owed, in order (what the relay would publish)
        self.lose_next = set()  # ids whose next save loses a race (a concurrent writer)

    def get(self, record_id):
        return copy.deepcopy(self.docs.get(record_id))

    def many(self, ids):
        return {i: copy.deepcopy(self.docs[i]) for i in ids if i in self.docs}

    def insert(self, record, events=()):
        if record["id"] in self.docs:
            return False
        self.docs[record["id"]] = copy.deepcopy({**record, "rev": 0, "_ws": []})
        self.events += list(events)
        return True

    def insert_many(self, items):
        return {record["id"] for record, events in items if self.insert(record, events)}

    def save_many(self, changes):
        lost = []
        for record, events in changes:
            current = self.docs.get(record["id"])
            if record["id"] in self.lose_next:
                self.lose_next.discard(record["id"])
                if current is None:  # someone else created it meanwhile (as it was before this change)
                    self.docs[record["id"]] = copy.deepcopy({**record, "stages": {}, "uncounted": [], "rev": 0,
                                                             "_ws": []})
                else:  # someone else wrote meanwhile
                    current["rev"] += 1
                lost.append(record["id"])
                continue
            if "_ws" not in record:  # never stored: inserted, unless another got there first
                if current is not None:
                    lost.append(record["id"])
                    continue
                self.docs[record["id"]] = copy.deepcopy({**record, "rev": 0, "_ws": []})
            elif current is None or current["rev"] != record["rev"]:
                lost.append(record["id"])
                continue
            else:
                self.docs[record["id"]] = copy.deepcopy({**record, "rev": record["rev"] + 1})
            self.events += list(events)
        return lost


class FakeSupervisionRepository:
    def __init__(self):
        self.programs, self.students, self.accounts = FakeRecords(), FakeRecords(), FakeRecords()
        self.alerts, self.claims = FakeRecords(), FakeRecords()
        self.activity = {}
        self.unfolded_batches = {}  # batch id -> {"id", "program_id", "school_id", "stored_ts"}
        self.statements = {}  # id -> {"statement", "program_id", "ts", "pending"}

    def events(self, event_type=None):
        every = [e for records in (self.students, self.alerts, self.claims) for e in records.events]
        return [e for e in every if event_type is None or e["type"] == event_type.type]

    def count(self, program_id, moves, now=None):
        """Each move once (the programme notes the moves it made), then the students forget them."""
        program = self.programs.docs[program_id]
        made = program.setdefault("counting", {})
        for _, move in moves:
            if move["id"] not in made:
                made[move["id"]] = now or 0
                for stage in move["stages"]:
                    program["counts"][stage] = program["counts"].get(stage, 0) + 1
                program["rev"] += 1
        ids = {move["id"] for _, move in moves}
        for student_id in {sid for sid, _ in moves}:
            student = self.students.docs[student_id]
            student["uncounted"] = [m for m in student.get("uncounted", []) if m["id"] not in ids]
            student["rev"] += 1

    def running_programs(self, now):
        return [copy.deepcopy(p) for p in self.programs.docs.values() if p["starts_ts"] <= now <= p["ends_ts"]]

    def students_in(self, program_id, stage=None, limit=100, offset=0):
        docs = sorted((s for s in self.students.docs.values() if s["program_id"] == program_id
                       and (stage is None or stage in s["stages"])), key=lambda s: s["id"])
        return copy.deepcopy(docs[offset:offset + limit]), len(docs) > offset + limit

    def idle_candidates(self, program_id, silent_before):
        return [copy.deepcopy(s) for s in self.students.docs.values() if s["program_id"] == program_id
                and s.get("status") == "admitted" and s.get("idle_clock", 0) <= silent_before]

    def idle_students(self, program_id):
        return [copy.deepcopy(s) for s in self.students.docs.values()
                if s["program_id"] == program_id and s.get("idle")]

    def accounts_of_students(self, student_keys):
        return [copy.deepcopy(a) for a in self.accounts.docs.values() if a.get("student_key") in student_keys]

    def account_ids(self, program_id, unmapped=False, skip=0, limit=100):
        ids = sorted(a["account_id"] for a in self.accounts.docs.values()
                     if a["program_id"] == program_id and not (unmapped and a.get("student_id")))
        return ids[skip:skip + limit]

    def count_unmapped(self, program_id):
        return len(self.account_ids(program_id, unmapped=True, limit=len(self.accounts.docs)))

    def accounts_of(self, program_id, account_ids):
        found = (self.accounts.docs.get(f"{program_id}:{a}") for a in account_ids)
        return {a["account_id"]: copy.deepcopy(a) for a in found if a}

    def unstored_accounts(self, program_id, batch_ids):
        return sorted({r["account_id"] for r in self.activity.values() if r["batch_id"] in batch_ids}
                      - {a["account_id"] for a in self.accounts.docs.values() if a["program_id"] == program_id})

    def fold_accounts(self, program_id, school_id, batches):
        """Each batch once per account (the account remembers the batches folded)."""
        mapped = {}
        for batch_id, deltas in batches:
            for account_id, delta in deltas.items():
                key = f"{program_id}:{account_id}"
                account = self.accounts.docs.setdefault(
                    key, {**domain.new_account(program_id, school_id, account_id), "_ws": []})
                if batch_id not in account["batches"]:
                    summary = {"last": domain.account_last(account), "counts": account["counts"],
                               "days": account["days"]}
                    domain.add_platform(summary, delta)
                    account.update(last=summary["last"], counts=summary["counts"], days=summary["days"],
                                   batches=(account["batches"] + [batch_id])[-domain.KEEP_BATCHES:],
                                   rev=account["rev"] + 1)
                if account.get("student_id"):
                    mapped[account_id] = account["student_id"]
        return mapped

    def insert_records(self, batch_id, docs):
        new = set()
        for doc in docs:
            if doc["id"] not in self.activity:
                self.activity[doc["id"]] = {**doc, "batch_id": batch_id}
            if self.activity[doc["id"]]["batch_id"] == batch_id:
                new.add(doc["id"])
        return new

    def records_of(self, batch_ids, account_ids):
        return [copy.deepcopy(r) for r in self.activity.values()
                if r["batch_id"] in batch_ids and r["account_id"] in account_ids]

    def mapped_students(self, program_id, account_ids):
        found = (self.accounts.docs.get(f"{program_id}:{a}") for a in account_ids)
        return {a["account_id"]: a["student_id"] for a in found if a and a.get("student_id")}

    def short_of(self, program_id, student_ids, stage):
        return {sid for sid in student_ids
                if stage not in self.students.docs.get(domain.student_key(program_id, sid), {}).get("stages", {})}

    def add_unfolded(self, batch_id, program_id, school_id, now):
        self.unfolded_batches.setdefault(batch_id, {"id": batch_id, "program_id": program_id,
                                                    "school_id": school_id, "stored_ts": now})

    def unfolded(self, program_id, limit=0):
        batches = sorted((b for b in self.unfolded_batches.values() if b["program_id"] == program_id),
                         key=lambda b: b["stored_ts"])[:limit or None]
        out = []
        for batch in batches:
            by_account = {}
            for record in self.activity.values():
                if record["batch_id"] == batch["id"]:
                    by_account.setdefault(record["account_id"], []).append(record)
            out.append({"id": batch["id"], "school_id": batch["school_id"],
                        "deltas": {a: domain.records_delta(rs) for a, rs in by_account.items()}})
        return out

    def unfolded_ids(self, program_id):
        return [b["id"] for b in self.unfolded(program_id)]

    def unfolded_programs(self):
        return sorted({b["program_id"] for b in self.unfolded_batches.values()})

    def drop_unfolded(self, batch_ids):
        for batch_id in batch_ids:
            self.unfolded_batches.pop(batch_id, None)

    def list_alerts(self, program_id, status=None, mentor_id=None, limit=100, offset=0):
        docs = sorted((a for a in self.alerts.docs.values() if a["program_id"] == program_id
                       and (status is None or a["status"] == status)
                       and (mentor_id is None or a.get("mentor_id") == mentor_id)), key=lambda a: a["raised_ts"])
        return copy.deepcopy(docs[offset:offset + limit]), len(docs) > offset + limit

    def open_alerts_of(self, program_id, student_id):
        return [copy.deepcopy(a) for a in self.alerts.docs.values() if a["program_id"] == program_id
                and a.get("student_id") == student_id and a["status"] != "resolved"]

    def add_statement(self, program_id, statement, ts):
        if statement["id"] in self.statements:
            return False
        self.statements[statement["id"]] = {"statement": copy.deepcopy(statement), "program_id": program_id,
                                            "ts": ts, "pending": True}
        return True

    def pending_statements(self, limit=500):
        return [copy.deepcopy(s["statement"]) for s in self.statements.values() if s["pending"]][:limit]

    def mark_delivered(self, ids, now):
        for i in ids:
            self.statements[i]["pending"] = False

    def statements_of(self, program_id, limit=100, offset=0):
        docs = sorted((s for s in self.statements.values() if s["program_id"] == program_id),
                      key=lambda s: (s["ts"], s["statement"]["id"]))
        return ([{"statement": copy.deepcopy(s["statement"]), "delivered": not s["pending"]}
                 for s in docs[offset:offset + limit]], len(docs) > offset + limit)
