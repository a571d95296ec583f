"""The CSV import's rules, with the RPCs replaced by the service run in memory."""
import pytest
from nameko.testing.services import worker_factory

from contracts.errors import NotFound
from services.enrollment.importer import ImportAborted, import_applications
from services.enrollment.service import EnrollmentService
from tests.unit.enrollment.fakes import FakePrograms, FakeStore
from tests.unit.enrollment.test_enrollment_service import ADMIN, Clock, programme


@pytest.fixture
def service():
    svc = worker_factory(EnrollmentService, programs=FakePrograms(), store=FakeStore())
    svc._now = Clock()
    return svc


def run(service, tmp_path, text, program_id):
    path = tmp_path / "apps.csv"
    path.write_text(text, encoding="utf-8")
    return import_applications(path, program_id, "jufe", submit=service.submit_application,
                               get_program=service.get_program)


def test_a_bad_line_is_reported_with_its_number_and_never_stops_the_rest(service, tmp_path):
    pid = programme(service)
    summary = run(service, tmp_path, "student_id,name,track,year_of_study\n"
                                     "a,A,undergraduate,1\n"
                                     "b,B,nowhere,1\n"
                                     "c,C,undergraduate,x\n"
                                     "a,A2,vocational,2\n"
                                     "d,D,vocational,\n", pid)
    assert [line for line, _ in summary["imported"]] == [2, 6]
    assert summary["duplicates"] == [(5, "a")]
    assert [line for line, _ in summary["rejected"]] == [3, 4]
    assert "track" in summary["rejected"][0][1] and "year_of_study" in summary["rejected"][1][1]
    assert sorted(a["student_id"] for a in service.store.apps.values()) == ["a", "d"]
    assert len(service.store.events("application.submitted.v1")) == 2  # announced like any other


def test_a_file_without_the_required_columns_imports_nothing(service, tmp_path):
    pid = programme(service)
    with pytest.raises(ImportAborted):
        run(service, tmp_path, "id,name\n1,A\n", pid)
    assert service.store.apps == {}


def test_an_unknown_programme_stops_the_import(service, tmp_path):
    programme(service)
    with pytest.raises(ImportAborted):
        run(service, tmp_path, "student_id,name,track\na,A,undergraduate\n", "no-such-programme")
    with pytest.raises(NotFound):
        service.get_program(ADMIN, "no-such-programme")
