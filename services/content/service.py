"""The content service. Its domain arrives with its own issue; until then it runs,
owns its database (praxis_content) and answers health checks."""
from services.common.service import PraxisService
from services.common.storage import Storage


class ContentService(PraxisService):
    name = "content"

    db = Storage()
