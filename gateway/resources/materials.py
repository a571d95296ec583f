"""/materials: courseware posted by partners and reviewed by the school
(content service). URLs are validated (http/https) and never fetched."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import page_schema
from contracts.content import (MaterialCreateSchema, MaterialListQuerySchema, MaterialReviewSchema,
                               MaterialSchema, MaterialVersionCreateSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("materials", __name__, description="Courseware with versions and review")


@blp.route("/materials", methods=["POST"])
@roles("partner", "admin")
@idempotent
@blp.arguments(MaterialCreateSchema)
@blp.response(201, MaterialSchema)
def create_material(data):
    """Post a material; its first version waits for the school's review."""
    material = call("content", "create_material", data)
    return reply(material, 201, {"Location": url_for("materials.get_material", material_id=material["id"])})


@blp.route("/materials", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(MaterialListQuerySchema, location="query")
@blp.response(200, page_schema(MaterialSchema))
def list_materials(query):
    """Materials (LMS: published ones; partner: its own), oldest first."""
    return reply(call("content", "list_materials", query))


@blp.route("/materials/<material_id>", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.response(200, MaterialSchema)
def get_material(material_id):
    """One material."""
    return reply(call("content", "get_material", material_id))


@blp.route("/materials/<material_id>/versions", methods=["POST"])
@roles("partner", "admin")
@idempotent
@blp.arguments(MaterialVersionCreateSchema)
@blp.response(201, MaterialSchema)
def add_material_version(data, material_id):
    """A new version; it needs review again while the published one stays visible."""
    return reply(call("content", "add_material_version", material_id, data), 201)


@blp.route("/materials/<material_id>/review", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(MaterialReviewSchema)
@blp.response(200, MaterialSchema)
def review_material(data, material_id):
    """Approve (publish) or reject a version, with a reason (school staff)."""
    return reply(call("content", "review_material", material_id, data))
