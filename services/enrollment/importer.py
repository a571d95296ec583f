"""``praxis import applications FILE --program ID --school SCHOOL``: the LMS's
roster of applications as CSV, one application a line.

Each line goes through the enrollment service's own ``submit_application`` RPC,
so an imported application is validated, stored and announced
(application.submitted) exactly like one sent through the API, and is one
document write: a bad line is reported and skipped, never half stored, and never
stops the lines after it.

Columns (a header line first): student_id, name, track, major, year_of_study,
prior_courses (separated by ';'), motivation. Only student_id, name and track
are required.
"""
import csv
import hashlib
import io
import json
import sys
import uuid

from contracts.base import load
from contracts.enrollment import IMPORT_COLUMNS, ApplicationCreateSchema
from contracts.errors import Conflict, InvalidInput, NotFound, PraxisError

REQUIRED = ("student_id", "name", "track")
TIMEOUT_RETRIES = 3


class ImportAborted(Exception):
    """The file as a whole cannot be imported (unreadable, no usable header)."""


def parse_row(row):
    """A CSV row (dict of strings) -> ApplicationCreateSchema data; raises
    InvalidInput with the reason."""
    if None in row:  # more values than columns
        raise InvalidInput("too many fields on the line")
    if any(v is None for v in row.values()):
        raise InvalidInput("too few fields on the line")
    data = {k: (row.get(k) or "").strip() for k in IMPORT_COLUMNS if k in row}
    year = data.pop("year_of_study", "")
    courses = data.pop("prior_courses", "")
    if year:
        try:
            data["year_of_study"] = int(year)
        except ValueError:
            raise InvalidInput("bad year_of_study", {"year_of_study": [f"'{year}' is not a whole number"]})
    data["prior_courses"] = [c.strip() for c in courses.split(";") if c.strip()]
    return load(ApplicationCreateSchema, data)


def describe(exc):
    if exc.errors:
        parts = [f"{field}: {'; '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
                 for field, reasons in exc.errors.items()]
        return ", ".join(parts)
    return exc.detail or exc.__class__.__name__


def read_rows(path):
    """Yield (line number, row) for every record of the file."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ImportAborted(f"cannot read {path}: {exc.strerror}")
    with handle:
        yield from _csv_rows(handle)


def parsed_lines(fmt, text):
    """The lines of a posted file (``csv`` with a header line, or ``jsonl``: one
    JSON object a line): yield (line number, data, None) or (line, None, reason)."""
    if fmt == "csv":
        for line, row in _csv_rows(io.StringIO(text.lstrip("\ufeff"), newline="")):
            try:
                yield line, parse_row(row), None
            except InvalidInput as exc:
                yield line, None, describe(exc)
        return
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            yield line, None, f"not JSON ({exc.msg})"
            continue
        if not isinstance(obj, dict):
            yield line, None, "not a JSON object"
            continue
        try:
            yield line, load(ApplicationCreateSchema, obj), None
        except InvalidInput as exc:
            yield line, None, describe(exc)


def _csv_rows(handle):
    """Yield (line number, row) of a CSV with its header line (ImportAborted if unusable)."""
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if missing or unknown:
        raise ImportAborted("the header line must name the columns "
                            f"{', '.join(IMPORT_COLUMNS)} (missing: {', '.join(missing) or '-'}; "
                            f"unknown: {', '.join(unknown) or '-'})")
    line = reader.line_num
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            yield start, row
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportAborted(f"line {line + 1}: the file cannot be read further ({exc})")


def import_applications(path, program_id, school_id, submit, get_program, progress=None):
    """Import every line; return the summary {imported, duplicates, rejected}.

    ``submit(caller, program_id, data)`` and ``get_program(caller, program_id)``
    are the enrollment RPCs; ``progress`` wraps the row iterator (a tqdm bar)."""
    run = uuid.uuid4().hex
    caller = {"school_id": school_id, "role": "admin", "partner_id": None, "key_id": "cli",
              "actor": "cli:import", "correlation_id": f"import-{run}"}
    try:
        get_program(caller, program_id)
    except NotFound:
        raise ImportAborted(f"school {school_id} has no programme {program_id}")
    rows = list(read_rows(path))
    summary = {"imported": [], "duplicates": [], "rejected": []}
    for line, row in (progress(rows) if progress else rows):
        try:
            data = parse_row(row)
        except InvalidInput as exc:
            summary["rejected"].append((line, describe(exc)))
            continue
        # one operation id per line of this run: a call retried after a
        # timeout has one effect; running the file again finds duplicates
        line_caller = {**caller, "correlation_id": f"import-{run}-{line}",
                       "operation_id": hashlib.sha256(f"{run}:{line}".encode()).hexdigest()[:32]}
        try:
            app = _submit_with_retry(submit, line_caller, program_id, ApplicationCreateSchema().dump(data))
        except Conflict as exc:
            if "live application" in exc.detail:
                summary["duplicates"].append((line, data["student_id"]))
            else:
                summary["rejected"].append((line, describe(exc)))
        except PraxisError as exc:
            summary["rejected"].append((line, describe(exc)))
        else:
            summary["imported"].append((line, app["id"]))
    return summary


def _submit_with_retry(submit, caller, program_id, data):
    from nameko.exceptions import RpcTimeout
    for attempt in range(TIMEOUT_RETRIES):
        try:
            return submit(caller, program_id, data)
        except RpcTimeout:
            if attempt == TIMEOUT_RETRIES - 1:
                raise


def print_summary(summary, out=sys.stdout):
    print(f"imported: {len(summary['imported'])}", file=out)
    print(f"skipped as duplicate: {len(summary['duplicates'])}", file=out)
    for line, student_id in summary["duplicates"]:
        print(f"  line {line}: student {student_id} already has a live application", file=out)
    print(f"rejected: {len(summary['rejected'])}", file=out)
    for line, reason in summary["rejected"]:
        print(f"  line {line}: {reason}", file=out)


def main(path, program_id, school_id, timeout=30):
    """The command: exit 0 when every line was imported or was a duplicate,
    1 when some lines were rejected, 2 when the file could not be imported."""
    from nameko.standalone.rpc import ClusterRpcProxy
    from tqdm import tqdm

    import contracts.errors  # noqa: F401  (the exceptions the service raises, as classes)
    from services.common.config import nameko_config
    try:
        with ClusterRpcProxy(nameko_config(), timeout=timeout) as cluster:
            summary = import_applications(
                path, program_id, school_id, submit=cluster.enrollment.submit_application,
                get_program=cluster.enrollment.get_program,
                progress=lambda rows: tqdm(rows, desc="applications", unit="line", file=sys.stderr))
    except ImportAborted as exc:
        print(f"praxis: {exc}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 1 if summary["rejected"] else 0
