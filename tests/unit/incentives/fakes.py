"""An in-memory IncentivesRepository for unit tests (same interface, no database)."""
import copy

from contracts.errors import Conflict


def _matches(record, query):
    return all(record.get(k) == v for k, v in query.items())


class FakeRecords:

    def __init__(self, events):
        self.rows = {}
        self.events = events

    def insert(self, record, events=()):
        if record["id"] in self.rows:
            return False
        self.rows[record["id"]] = copy.deepcopy(record)
        self.events.extend(events)
        return True

    def get(self, record_id, **match):
        row = self.rows.get(record_id)
        return copy.deepcopy(row) if row is not None and _matches(row, match) else None

    def replace(self, record, guard, events=()):
        row = self.rows.get(record["id"])
        if row is None or not _matches(row, guard):
            return False
        self.rows[record["id"]] = copy.deepcopy(record)
        self.events.extend(events)
        return True

    def find(self, query, sort=None, skip=0, limit=0):
        rows = [copy.deepcopy(r) for r in self.rows.values() if _matches(r, query)]
        for key, direction in reversed(sort or []):
            rows.sort(key=lambda r: r.get(key), reverse=direction < 0)
        rows = rows[skip:]
        return rows[:limit] if limit else rows


class FakeIncentivesRepository:

    def __init__(self):
        self.events = []
        self.appeals, self.redemptions, self.rewards = (FakeRecords(self.events) for _ in range(3))
        self.badge_classes, self.badge_awards, self.items = (FakeRecords(self.events) for _ in range(3))
        self.programs, self.teams, self.accounts, self.entries = {}, {}, {}, {}
        self.rule_sets, self.fact_rows, self.keys = [], {}, {}

    def published(self, type_=None):
        return [e for e in self.events if type_ is None or e["type"] == type_]

    # projections
    def keep_program(self, program):
        self.programs.setdefault(program["id"], {**program, "partners": [], "sessions": [], "leaderboard": None})

    def get_program(self, school_id, program_id):
        program = self.programs.get(program_id)
        return copy.deepcopy(program) if program and program["school_id"] == school_id else None

    def add_to_program(self, school_id, program_id, field, value):
        program = self.programs.setdefault(program_id, {"id": program_id, "school_id": school_id,
                                                        "partners": [], "sessions": [], "leaderboard": None})
        if value not in program[field]:
            program[field].append(value)

    def remove_from_program(self, program_id, field, value):
        if program_id in self.programs and value in self.programs[program_id][field]:
            self.programs[program_id][field].remove(value)

    def set_leaderboard(self, program_id, settings):
        self.programs[program_id]["leaderboard"] = dict(settings)

    def keep_team(self, team, at):
        old = self.teams.get(team["id"])
        if old is None or old["at_ts"] <= at:
            self.teams[team["id"]] = {**team, "at_ts": at}

    def get_team(self, school_id, team_id):
        team = self.teams.get(team_id)
        return copy.deepcopy(team) if team and team["school_id"] == school_id else None

    # rules and facts
    def rulesets(self, program_id):
        return sorted((copy.deepcopy(r) for r in self.rule_sets if r["program_id"] == program_id),
                      key=lambda r: r["version"])

    def add_ruleset(self, ruleset):
        if any(r["program_id"] == ruleset["program_id"] and r["version"] == ruleset["version"]
               for r in self.rule_sets):
            raise Conflict("another version was stored meanwhile")
        self.rule_sets.append(copy.deepcopy(ruleset))

    def keep_fact(self, fact):
        self.fact_rows.setdefault(fact["event_id"], copy.deepcopy(fact))

    def facts(self, program_id):
        return [copy.deepcopy(f) for f in self.fact_rows.values() if f["program_id"] == program_id]

    # accounts and the ledger
    def get_account(self, program_id, student_id):
        account = self.accounts.get(f"{program_id}:{student_id}")
        return copy.deepcopy(account)

    def write_account(self, account, entries, events=()):
        stored = self.accounts.get(account["id"])
        if (stored["rev"] if stored else 0) != account.get("rev", 0):
            raise Conflict("the account changed meanwhile")
        pending = [*(stored or {}).get("pending_entries", []), *entries]
        self.accounts[account["id"]] = copy.deepcopy({**account, "rev": account.get("rev", 0) + 1,
                                                      "pending_entries": pending})
        self.events.extend(events)
        return {**account, "rev": account.get("rev", 0) + 1, "pending_entries": copy.deepcopy(pending)}

    def flush(self, account_id, written=None):
        account = self.accounts[account_id]
        for entry in account["pending_entries"]:
            self.entries.setdefault(entry["id"], copy.deepcopy(entry))
        count = len(account["pending_entries"])
        account["pending_entries"] = []
        return count

    def accounts_with_pending_entries(self, limit=200):
        return [a["id"] for a in self.accounts.values() if a["pending_entries"]][:limit]

    def entry_exists(self, entry_id, account):
        return entry_id in self.entries or any(e["id"] == entry_id for e in account.get("pending_entries") or [])

    def get_entry(self, school_id, entry_id):
        entry = self.entries.get(entry_id)
        return copy.deepcopy(entry) if entry and entry["school_id"] == school_id else None

    def student_accounts(self, school_id, student_id, program_id=None):
        return [copy.deepcopy(a) for a in self.accounts.values()
                if a["school_id"] == school_id and a["student_id"] == student_id
                and program_id in (None, a["program_id"])]

    def student_entries(self, school_id, student_id, program_id=None, skip=0, limit=200):
        rows = [copy.deepcopy(e) for e in self.entries.values()
                if e["school_id"] == school_id and e["student_id"] == student_id
                and program_id in (None, e["program_id"])]
        rows.sort(key=lambda e: (e["at"], e.get("seq", 0)))
        return rows[skip:skip + limit]

    def program_accounts(self, program_id, fields=None):
        return [copy.deepcopy(a) for a in self.accounts.values() if a["program_id"] == program_id]

    def reconcile(self, program_id=None):
        differences = []
        for account in self.accounts.values():
            if program_id not in (None, account["program_id"]):
                continue
            mine = [e for e in self.entries.values() if e["program_id"] == account["program_id"]
                    and e["student_id"] == account["student_id"]]
            if sum(e["amount"] for e in mine) != account["spendable"]:
                differences.append(account["id"])
        return differences

    # the catalogue
    def _item(self, item_id):
        return self.items.rows[item_id]

    def hold(self, item_id, hold):
        item = self._item(item_id)
        if item["stock"] < 1 or hold in item["holds"]:
            return False
        item["stock"] -= 1
        item["holds"].append(hold)
        return True

    def release(self, item_id, hold):
        item = self._item(item_id)
        if hold in item["holds"]:
            item["holds"].remove(hold)
            item["stock"] += 1

    def sell(self, item_id, hold):
        item = self._item(item_id)
        if hold in item["holds"]:
            item["holds"].remove(hold)
            item["sold"] += 1

    def restock(self, item_id, redemption_id):
        item = self._item(item_id)
        if redemption_id not in item["returned"]:
            item["returned"].append(redemption_id)
            item["stock"] += 1
            item["sold"] -= 1

    def items_with_holds(self):
        return [copy.deepcopy(i) for i in self.items.rows.values() if i["holds"]]

    # badges
    def signing_key(self, school_id, make):
        return self.keys.setdefault(school_id, {"id": school_id, **make()})
