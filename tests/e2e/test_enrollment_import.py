"""`praxis import applications FILE --program ID --school SCHOOL` against the
running system: good lines imported through the enrollment service (each
announced with application.submitted), duplicates skipped, bad lines rejected
with their line number and reason, none of them stopping the rest."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import eventually
from tests.e2e.enrollment_helpers import EventTap, applications, apply, create_programme

SCHOOL = "import-school"
PRAXIS = str(Path(sys.executable).parent / "praxis")

CSV = """student_id,name,track,major,year_of_study,prior_courses,motivation
imp-01,Li Na,undergraduate,E-commerce,3,Marketing 101;Logistics,"I want to run a store, really"
imp-02,Wang Wei,vocational,Trade,2,,
imp-03,Zhang San,postgraduate,Trade,2,,
imp-04,,undergraduate,Trade,2,,
imp-05,Zhao Lei,undergraduate,Trade,third,,
imp-06,Chen Jie,undergraduate,Trade,2,,,too many
imp-01,Li Na again,vocational,E-commerce,3,,
imp-07,Sun Mei,undergraduate,Marketing,4,,"a motivation
on two lines"
imp-08,Zhou Yu,undergraduate,Trade,1,Accounting,
pre-existing,Already There,undergraduate,Trade,2,,
imp-09,Wu Fang,vocational,,,,
"""


@pytest.fixture(scope="module")
def admin(client_for):
    return client_for(SCHOOL, "admin")


def run_import(system, path, program_id, school=SCHOOL):
    return subprocess.run([PRAXIS, "import", "applications", str(path), "--program", program_id,
                           "--school", school], env=system.env, capture_output=True, text=True, timeout=120)


def test_importing_a_csv_with_bad_lines_imports_the_good_ones_and_reports_the_rest(system, admin, client_for,
                                                                                    tmp_path):
    program_id = create_programme(admin)
    apply(client_for(SCHOOL, "lms", acting="staff:registrar"), program_id, "pre-existing")
    path = tmp_path / "applications.csv"
    path.write_text(CSV, encoding="utf-8")
    tap = EventTap(system.env["AMQP_URI"])
    try:
        done = run_import(system, path, program_id)
        assert done.returncode == 1, done.stderr  # some lines were rejected
        out = done.stdout
        assert "imported: 5" in out
        assert "skipped as duplicate: 2" in out
        assert "line 8: student imp-01 already has a live application" in out
        assert "line 12: student pre-existing" in out
        assert "rejected: 4" in out
        assert "line 4: track:" in out and "unknown track" in out
        assert "line 5: name:" in out
        assert "line 6: year_of_study: 'third' is not a whole number" in out
        assert "line 7: too many fields" in out
        assert "applications" in done.stderr  # the progress bar

        stored = {a["student_id"]: a for a in applications(admin, program_id)}
        assert set(stored) == {"pre-existing", "imp-01", "imp-02", "imp-07", "imp-08", "imp-09"}
        assert stored["imp-01"]["prior_courses"] == ["Marketing 101", "Logistics"]
        assert stored["imp-01"]["track"] == "undergraduate"  # the first line won
        assert stored["imp-07"]["motivation"] == "a motivation\non two lines"
        assert stored["imp-09"]["year_of_study"] is None and stored["imp-09"]["status"] == "submitted"

        # imported applications are announced like any other
        def announced():
            found = sorted(e["payload"]["student_id"] for e in tap.read("application.submitted.v1")
                           if e["payload"]["program_id"] == program_id and e["payload"]["student_id"] != "pre-existing")
            return found if len(found) >= 5 else None
        assert eventually(announced) == ["imp-01", "imp-02", "imp-07", "imp-08", "imp-09"]
    finally:
        tap.close()


def test_importing_the_same_file_again_imports_nothing_twice(system, admin, tmp_path):
    program_id = create_programme(admin)
    path = tmp_path / "again.csv"
    path.write_text("student_id,name,track\nonce-1,One,undergraduate\nonce-2,Two,vocational\n", encoding="utf-8")
    first = run_import(system, path, program_id)
    assert first.returncode == 0 and "imported: 2" in first.stdout, first.stdout + first.stderr
    second = run_import(system, path, program_id)
    assert second.returncode == 0
    assert "imported: 0" in second.stdout and "skipped as duplicate: 2" in second.stdout
    assert len(applications(admin, program_id)) == 2


def test_an_unknown_programme_or_a_bad_header_stops_before_any_line(system, admin, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("student,name,track\nx,X,undergraduate\n", encoding="utf-8")
    program_id = create_programme(admin)
    bad_header = run_import(system, path, program_id)
    assert bad_header.returncode == 2 and "header" in bad_header.stderr
    assert applications(admin, program_id) == []
    unknown = run_import(system, path, program_id, school="another-school")
    assert unknown.returncode == 2 and "has no programme" in unknown.stderr
