"""Loaded first by pytest (``-p deploy.pytest_eventlet`` in pyproject's addopts).

``nameko test`` monkey-patches the standard library with eventlet before pytest starts;
trio (a dependency of Selenium, used only for its BiDi/CDP connections) cannot be
imported over eventlet's green sockets, and anyio's pytest plugin imports it when it is
installed. Under eventlet, importing trio fails plainly, so anyio leaves it out and the
suite runs; nothing in Praxis or its tests uses trio."""
import os
import sys

try:
    from eventlet import patcher
except ImportError:  # pragma: no cover  (eventlet is a dependency)
    patcher = None


class _NoTrio:
    """A meta path finder that answers ImportError for trio and its submodules."""

    def find_spec(self, name, path=None, target=None):
        if name == "trio" or name.startswith("trio."):
            raise ImportError(f"{name} is left out under eventlet (deploy/pytest_eventlet.py)")
        return None


if patcher is not None and patcher.is_monkey_patched("socket") and "trio" not in sys.modules:
    sys.meta_path.insert(0, _NoTrio())
    # trio's own hypothesis plugin would import it: hypothesis then loads no plugin
    os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
