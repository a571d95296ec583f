"""The enrollment service: thin nameko entrypoints over services.enrollment.domain."""
from contracts.base import dump, load
from contracts.enrollment import (PROGRAM_CREATED, ProgramCreateSchema, ProgramListQuerySchema,
                                  ProgramSchema)
from contracts.errors import NotFound
from contracts.events import make_event
from services.common.events import Outbox
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from services.enrollment import domain
from services.enrollment.models import DOCUMENTS, ProgramDoc
from services.enrollment.repository import ProgramRepository


class EnrollmentService(PraxisService):
    name = "enrollment"

    programs = Storage(ProgramRepository, documents=DOCUMENTS)
    outbox = Outbox(ProgramDoc)

    @rpc
    def create_program(self, caller, data):
        """``caller``: school_id, actor, correlation_id and operation_id (the
        Idempotency-Key, so a call that runs twice creates one programme)."""
        program = domain.new_program(
            load(ProgramCreateSchema, data), school_id=caller["school_id"],
            actor=caller["actor"], program_id=caller.get("operation_id"))
        event = make_event(PROGRAM_CREATED, domain.program_created_payload(program),
                           school_id=caller["school_id"], actor=caller["actor"],
                           correlation_id=caller.get("correlation_id"))
        return dump(ProgramSchema, self.programs.add(program, events=[event]))

    @rpc
    def get_program(self, caller, program_id):
        program = self.programs.get(caller["school_id"], program_id)
        if program is None:
            raise NotFound(f"no programme {program_id}")
        return dump(ProgramSchema, program)

    @rpc
    def list_programs(self, caller, query=None):
        query = load(ProgramListQuerySchema, query)
        return [dump(ProgramSchema, p) for p in self.programs.list(caller["school_id"], **query)]
