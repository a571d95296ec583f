"""ralph's Learning Record Store as a process of the tests, from its own virtual
environment (.venv-lrs, made by `make install`): a file-system backend under a
temporary directory, one user with every scope, HTTP on a free port."""
import json
import os
import subprocess
from pathlib import Path

import requests

from deploy.local import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[1]
LRS_VENV = ROOT / ".venv-lrs"
USER, PASSWORD = "praxis", "praxis-lrs-secret"


def available():
    return (LRS_VENV / "bin" / "uvicorn").exists()


class Lrs:
    def __init__(self, base):
        self.base = Path(base)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth = f"{USER}:{PASSWORD}"
        self.process = None

    def start(self):
        self.base.mkdir(parents=True, exist_ok=True)
        auth_file = self.base / "auth.json"
        auth_file.write_text(json.dumps([{"username": USER, "hash": _hash(), "scopes": ["all"],
                                          "agent": {"mbox": "mailto:praxis@example.org"}}]))
        env = {**os.environ, "RALPH_AUTH_FILE": str(auth_file), "RALPH_RUNSERVER_BACKEND": "fs",
               "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(self.base / "data"),
               "RALPH_APP_DIR": str(self.base / "app")}
        (self.base / "data").mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [str(LRS_VENV / "bin" / "uvicorn"), "ralph.api:app", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=open(self.base / "lrs.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, "ralph's LRS", 60, self.process)
        return self

    def _answers(self):
        try:
            return requests.get(f"{self.url}/__heartbeat__", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def statements(self, **params):
        response = requests.get(f"{self.url}/xAPI/statements", params=params, auth=(USER, PASSWORD),
                                headers={"X-Experience-API-Version": "1.0.3"}, timeout=10)
        response.raise_for_status()
        return response.json()["statements"]

    def stop(self):
        if self.process is not None:
            stop([self.process])


def _hash():
    """bcrypt is ralph's dependency: hash with it in ralph's own environment."""
    return subprocess.run(
        [str(LRS_VENV / "bin" / "python"), "-c",
         f"import bcrypt; print(bcrypt.hashpw(b'{PASSWORD}', bcrypt.gensalt()).decode())"],
        capture_output=True, text=True, check=True).stdout.strip()
