"""The credit exchange's steps (the service's entrypoints call them).

A redemption never oversells and never charges twice, without a transaction:

1. hold a unit: one conditional update takes it from ``stock`` (``stock >= 1``) and
   names the redemption in ``holds`` (``"<redemption id>@<epoch s>"``);
2. charge the account: one guarded write checks admission, the per-student limit
   and the spendable balance, and stores the exchange entry (id from the
   redemption id: a retry finds it) with the redemption.made event;
3. store the redemption and sell the held unit (the hold becomes ``sold``).

A refusal at 2 gives the unit back at once. A crash anywhere leaves a hold the
sweep finishes: sold if the account was charged, given back after
``HOLD_TIMEOUT_S`` if it never was.
"""
import logging
import time

from contracts.errors import Conflict, InvalidInput

log = logging.getLogger("praxis.incentives")

HOLD_TIMEOUT_S = 120  # a unit held longer by a redemption that never charged goes back


def record(redemption_id, item, student_id, at):
    return {"id": redemption_id, "school_id": item["school_id"], "program_id": item["program_id"],
            "item_id": item["id"], "student_id": student_id, "price": item["price"], "status": "made",
            "entry_id": f"exchange:{redemption_id}", "refund_entry_id": None, "cancel_reason": None,
            "created_at": at}


def hold_unit(store, item, redemption_id):
    """The unit this redemption holds (a retry goes on with the one it held)."""
    held = next((h for h in item.get("holds", []) if h.rpartition("@")[0] == redemption_id), None)
    if held is not None:
        return held
    hold = f"{redemption_id}@{int(time.time())}"
    if not store.hold(item["id"], hold):
        raise Conflict(f"{item['name']} is out of stock")
    return hold


def may_redeem(item):
    def check(account):
        if account.get("status") != "admitted":
            raise InvalidInput("the student is not admitted to this programme", {"student_id": ["not admitted"]})
        if account["redeemed"].get(item["id"], 0) >= item["per_student_limit"]:
            raise InvalidInput(f"at most {item['per_student_limit']} per student", {"item_id": ["limit reached"]})
        if account["spendable"] < item["price"]:
            raise InvalidInput(f"{item['price']} credits needed, {account['spendable']} spendable",
                               {"student_id": ["not enough credits"]})
    return check


def counted(item, by):
    """The account with the item's redemption count changed by ``by``."""
    def update(account):
        count = max(0, account["redeemed"].get(item["id"], 0) + by)
        return {**account, "redeemed": {**account["redeemed"], item["id"]: count}}
    return update


def charge(store, ledger, item, made, hold, event, caused_by):
    """Step 2 and 3; a refusal gives the held unit back."""
    try:
        ledger.add(made["school_id"], item["program_id"], made["student_id"], "exchange", -item["price"],
                   f"exchanged for {item['name']}", entry_id=made["entry_id"], at=made["created_at"],
                   lifetime=False, limit_by_floor=False, caused_by=caused_by, request_id=made["id"],
                   check=may_redeem(item), update=counted(item, +1), extra_events=lambda account, entries: [event])
    except (InvalidInput, Conflict):
        store.release(item["id"], hold)
        raise
    # (any other failure keeps the hold: the sweep sells it if the account was charged)
    store.redemptions.insert(made)
    store.sell(item["id"], hold)


def sweep_holds(store, now=None):
    now = time.time() if now is None else now
    for item in store.items_with_holds():
        for hold in item.get("holds", []):
            redemption_id, _, since = hold.rpartition("@")
            if store.redemptions.get(redemption_id) is not None:
                store.sell(item["id"], hold)
            elif now - float(since or 0) > HOLD_TIMEOUT_S:
                entry = store.get_entry(item["school_id"], f"exchange:{redemption_id}")
                if entry is None:  # never charged: the unit goes back
                    store.release(item["id"], hold)
                else:  # charged, then the process died before the record: keep the sale
                    log.warning("a charged redemption had no record; made it", extra={"redemption_id": redemption_id})
                    store.redemptions.insert(record(redemption_id, item, entry["student_id"], entry["at"]))
                    store.sell(item["id"], hold)
