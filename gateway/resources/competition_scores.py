"""/assessments/{id}/competition-scores: the partner's simulation platform results
per team or student (assessment service).

Each result carries the platform's run id: the same run posted again changes
nothing, the same run with another score is a correction (the old score stays in
its history); both emit competition_score.recorded."""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.assessment import CompetitionEntrySchema, CompetitionPostResultSchema, CompetitionScoresCreateSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("competition_scores", __name__, description="Simulation platform results of a competition")


@blp.route("/assessments/<assessment_id>/competition-scores", methods=["POST"])
@roles("admin", "partner")
@idempotent
@blp.arguments(CompetitionScoresCreateSchema)
@blp.response(200, CompetitionPostResultSchema)
def post_scores(data, assessment_id):
    """Post results (recorded, unchanged or corrected, per run)."""
    return reply(call("assessment", "post_competition_scores", assessment_id, data))


@blp.route("/assessments/<assessment_id>/competition-scores", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(CompetitionEntrySchema))
def list_scores(query, assessment_id):
    """The runs recorded: a partner those it posted, a student their own and their
    team's, a mentor or tutor their teams', school staff all."""
    return reply(call("assessment", "list_competition_scores", assessment_id, query))
