"""roster.csv streams the roster a page at a time: every row once, in order, one
header line, however many pages it takes."""
import csv
import io

from flask import Flask, g

from gateway.resources import roster


class PagedRoster:
    """The enrollment service's roster RPC over ``rows``, paged like the real one."""

    def __init__(self, rows):
        self.rows, self.calls = rows, []

    def call(self, service, method, caller, program_id, query, correlation_id=None):
        assert (service, method) == ("enrollment", "roster")
        self.calls.append(query)
        page = self.rows[query["offset"]:query["offset"] + query["limit"]]
        return {"program_id": program_id, "rows": page, "limit": query["limit"], "offset": query["offset"],
                "has_more": query["offset"] + query["limit"] < len(self.rows)}


def _row(n):
    return {"student_id": f"s{n:02d}", "name": f"=Student {n}", "major": "", "year_of_study": 2,
            "track": "ug", "status": "admitted", "promoted": False, "team_id": None, "team_name": None,
            "mentor_id": None, "mentor_name": None, "tutor_id": None, "tutor_name": None,
            "application_id": f"a{n}"}


def _export(rows, monkeypatch):
    monkeypatch.setattr(roster, "CSV_PAGE", 3)
    app = Flask(__name__)
    app.extensions["praxis_rpc"] = PagedRoster(rows)
    with app.test_request_context():
        g.caller = {"role": "admin", "acting": {"kind": None, "id": None}, "school_id": "jufe"}
        g.correlation_id = "c-1"
        response = roster.get_roster_csv("p1")
        assert response.is_streamed and response.mimetype == "text/csv"
        text = response.get_data(as_text=True)
    return text, app.extensions["praxis_rpc"].calls


def test_the_csv_streams_every_row_once_over_several_pages(monkeypatch):
    text, calls = _export([_row(n) for n in range(8)], monkeypatch)
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [r["student_id"] for r in lines] == [f"s{n:02d}" for n in range(8)]
    assert lines[0]["name"] == "'=Student 0"  # no formula injection
    assert text.count("student_id,") == 1
    assert [c["offset"] for c in calls] == [0, 3, 6]


def test_an_empty_roster_is_a_header_line(monkeypatch):
    text, calls = _export([], monkeypatch)
    assert text.splitlines() == [",".join(roster.ROSTER_COLUMNS)] and len(calls) == 1
