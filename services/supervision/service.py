"""The supervision service: thin nameko entrypoints over services.supervision.domain."""
from contracts.base import dump
from contracts.content import ATTENDANCE_RECORDED
from contracts.enrollment import APPLICATION_SUBMITTED, PROGRAM_CREATED, STUDENT_ADMITTED
from contracts.errors import NotFound
from contracts.supervision import FunnelSchema
from services.common.events import on_event
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from services.supervision import domain
from services.supervision.models import DOCUMENTS
from services.supervision.repository import FunnelRepository


class SupervisionService(PraxisService):
    name = "supervision"

    funnels = Storage(FunnelRepository, documents=DOCUMENTS)

    @on_event(PROGRAM_CREATED)
    def on_program_created(self, event):
        self.funnels.start(domain.new_funnel(event.school_id, event.payload, event.occurred_at))

    @on_event(APPLICATION_SUBMITTED)
    def on_application_submitted(self, event):
        self._reach(event, "registered")

    @on_event(STUDENT_ADMITTED)
    def on_student_admitted(self, event):
        self._reach(event, "admitted")

    @on_event(ATTENDANCE_RECORDED)
    def on_attendance_recorded(self, event):
        if event.payload["status"] in domain.TRAINED_BY:
            self._reach(event, "trained")

    def _reach(self, event, stage):
        self.funnels.reach(event.school_id, event.payload["program_id"], event.payload["student_id"], stage)

    @rpc
    def get_funnel(self, caller, program_id):
        funnel = self.funnels.get(caller["school_id"], program_id)
        if funnel is None:
            raise NotFound(f"no programme {program_id}")
        return dump(FunnelSchema, domain.with_stages(funnel, self.funnels.students(program_id)))
