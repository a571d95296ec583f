"""One operation, one effect, for changes of a stored record.

A create takes the operation id as the new record's id (``_new_id``), so a retry finds
it. A change of an existing record cannot: the gateway's retry of a call whose reply
was lost (the service killed between its write and its answer) carries the same
``operation_id`` and would change the record again and publish a second event. So the
change stores the operation id in the record, in the same write as its events, and a
record that already holds it answers as it is, without writing or publishing.
"""
KEPT = 20  # the latest operations of a record: a retry comes within minutes, not after 20 changes


def repeated(record, caller):
    """True if this operation (the caller's ``operation_id``) changed the record already."""
    operation = caller.get("operation_id")
    return bool(operation) and operation in (record.get("operations") or ())


def by_operation(record, caller):
    """The changed record with the caller's operation id kept in it (to be saved in one write)."""
    operation = caller.get("operation_id")
    if not operation:
        return record
    return {**record, "operations": [*(record.get("operations") or ()), operation][-KEPT:]}
