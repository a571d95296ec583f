"""Request bodies shared by the end-to-end tests."""
from contracts.examples import platinum_cup  # noqa: F401
