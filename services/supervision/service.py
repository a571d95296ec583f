"""The supervision service: thin nameko entrypoints over services.supervision.domain."""
from contracts.base import dump
from contracts.enrollment import PROGRAM_CREATED
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

    @rpc
    def get_funnel(self, caller, program_id):
        funnel = self.funnels.get(caller["school_id"], program_id)
        if funnel is None:
            raise NotFound(f"no programme {program_id}")
        return dump(FunnelSchema, funnel)
