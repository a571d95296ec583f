"""The incentives service. Its domain arrives with its own issue; until then it runs,
owns its database (praxis_incentives) and answers health checks."""
from services.common.service import PraxisService
from services.common.storage import Storage


class IncentivesService(PraxisService):
    name = "incentives"

    db = Storage()
