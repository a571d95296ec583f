"""The assessment service. Its domain arrives with its own issue; until then it runs,
owns its database (praxis_assessment) and answers health checks."""
from services.common.service import PraxisService
from services.common.storage import Storage


class AssessmentService(PraxisService):
    name = "assessment"

    db = Storage()
