"""What a supervisor reads: the programme's attendance matrix (JSON and CSV) and
one student's attendance history (content service)."""
import csv
import io

from flask import Response
from flask_smorest import Blueprint

from contracts.content import AttendanceMatrixSchema, StudentAttendanceSchema
from gateway.auth import acting, roles
from gateway.resources import call, reply
from gateway.resources.roster import _cell
from services.content.reports import csv_rows

blp = Blueprint("reports", __name__, description="Attendance per programme and per student")


@blp.route("/programs/<program_id>/attendance", methods=["GET"])
@roles("admin")
@blp.response(200, AttendanceMatrixSchema)
def attendance_matrix(program_id):
    """Admitted students (by id) x scheduled sessions (by start): present, late,
    absent, excused, watched_replay or not_yet, with per-student and per-session
    totals; one call instead of one per session."""
    return reply(call("content", "attendance_matrix", program_id))


@blp.route("/programs/<program_id>/attendance.csv", methods=["GET"])
@roles("admin")
@blp.doc(responses={"200": {"description": "The attendance matrix as CSV",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def attendance_matrix_csv(program_id):
    """The attendance matrix as CSV: a header line, one row per student with their
    totals, then one row per status with the per-session totals."""
    report = call("content", "attendance_matrix", program_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in csv_rows(report):
        writer.writerow([_cell(v) for v in row])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="attendance-{program_id}.csv"'})


@blp.route("/programs/<program_id>/students/<student_id>/attendance", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, StudentAttendanceSchema)
def student_attendance(program_id, student_id):
    """One admitted student's attendance across the programme's sessions for their
    track, by start, with totals."""
    return reply(call("content", "student_attendance", program_id, student_id))
