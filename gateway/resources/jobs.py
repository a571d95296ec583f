"""/jobs/{id}: long work that runs in the owning service (an import, a selection):
its state, progress counts, result and report. The id names the service."""
from flask_smorest import Blueprint

from contracts.errors import NotFound
from contracts.jobs import JobSchema
from gateway.auth import acting, roles
from gateway.resources import call, reply

blp = Blueprint("jobs", __name__, description="Long work followed after a 202: imports and selection")

SERVICES = ("enrollment",)  # the services that run jobs


@blp.route("/jobs/<job_id>", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.response(200, JobSchema)
def get_job(job_id):
    """A job's state (queued, running, succeeded, failed), its progress counts and,
    once finished, its result (and the per-line report of an import). Poll it until
    the state is succeeded or failed. 404 for another school's job."""
    service = job_id.split("-", 1)[0]
    if service not in SERVICES:
        raise NotFound(f"no job {job_id}")
    return reply(call(service, "get_job", job_id))
