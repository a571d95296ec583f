"""The shape of docker-compose.yml: the whole system in one file, checked without a
Docker engine (Debian's `docker-compose` validates it offline)."""
import importlib
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

PRAXIS_SERVICES = {
    "enrollment": "EnrollmentService",
    "content": "ContentService",
    "assessment": "AssessmentService",
    "incentives": "IncentivesService",
    "supervision": "SupervisionService",
    "webhooks": "WebhooksService",
}
PRAXIS_CONTAINERS = [*PRAXIS_SERVICES, "gateway"]


@pytest.fixture(scope="module")
def compose():
    with COMPOSE_FILE.open() as f:
        return yaml.safe_load(f)


def _environment(container):
    env = container.get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return env


def _command(container):
    command = container["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_runs_broker_database_five_services_and_gateway(compose):
    expected = {"rabbitmq", "mongo", *PRAXIS_CONTAINERS}
    assert expected <= set(compose["services"])


def test_database_is_mongodb_7_with_a_named_data_volume(compose):
    mongo = compose["services"]["mongo"]
    repository, _, tag = mongo["image"].partition(":")
    assert repository == "mongo" and (tag == "7" or tag.startswith("7."))
    volume_names = {v.split(":")[0] for v in mongo.get("volumes", []) if isinstance(v, str)}
    assert volume_names & set(compose.get("volumes") or {}), "mongo data must live in a named volume"


def test_broker_is_rabbitmq_3_13_with_management(compose):
    assert compose["services"]["rabbitmq"]["image"] == "rabbitmq:3.13-management"


@pytest.mark.parametrize("name,class_name", sorted(PRAXIS_SERVICES.items()))
def test_each_service_container_runs_its_own_nameko_service_class(compose, name, class_name):
    argv = _command(compose["services"][name])
    module_path = f"services.{name}.service"
    assert argv[:2] == ["nameko", "run"]
    assert argv[argv.index("--config") + 1] == "deploy/nameko.yaml"
    assert (ROOT / "deploy" / "nameko.yaml").is_file()
    assert argv[-1] == f"{module_path}:{class_name}"


@pytest.mark.parametrize("name,class_name", sorted(PRAXIS_SERVICES.items()))
def test_each_service_class_named_in_compose_really_exists(compose, name, class_name):
    module_path, _, attr = _command(compose["services"][name])[-1].partition(":")
    service_class = getattr(importlib.import_module(module_path), attr)
    assert service_class.__name__ == class_name
    assert getattr(service_class, "name", None) == name


def test_gateway_runs_the_app_factory_under_gunicorn_with_gevent_on_port_8080(compose):
    gateway = compose["services"]["gateway"]
    argv = _command(gateway)
    assert argv[0] == "gunicorn"
    assert argv[argv.index("--worker-class") + 1] == "gevent"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8080"
    assert argv[-1] == "gateway:create_app()"
    assert "8080:8080" in [str(p) for p in gateway["ports"]]


def test_gateway_starts_after_the_five_services(compose):
    depends_on = compose["services"]["gateway"]["depends_on"]
    for name in PRAXIS_SERVICES:
        assert depends_on[name]["condition"] == "service_started"


@pytest.mark.parametrize("name", PRAXIS_CONTAINERS)
def test_every_praxis_container_is_built_from_the_one_dockerfile(compose, name):
    build = compose["services"][name]["build"]
    assert build["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / build.get("context", ".") / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", PRAXIS_CONTAINERS)
def test_every_praxis_container_reaches_broker_and_database_by_service_name(compose, name):
    env = _environment(compose["services"][name])
    assert env["AMQP_URI"] == "amqp://guest:guest@rabbitmq:5672/"
    assert env["MONGO_URI"] == "mongodb://mongo:27017/"


@pytest.mark.parametrize("name", PRAXIS_CONTAINERS)
def test_every_praxis_container_waits_for_a_healthy_broker_and_database(compose, name):
    depends_on = compose["services"][name]["depends_on"]
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    assert depends_on["mongo"]["condition"] == "service_healthy"


def test_common_praxis_settings_are_written_once_as_an_anchor(compose):
    assert "x-praxis" in compose
    text = COMPOSE_FILE.read_text()
    assert "&praxis" in text
    assert text.count("<<: *praxis") == len(PRAXIS_CONTAINERS)


@pytest.mark.parametrize("name,probe", [
    ("rabbitmq", "rabbitmq-diagnostics"),
    ("mongo", "mongosh"),
    ("gateway", "http://localhost:8080/health"),
])
def test_broker_database_and_gateway_have_healthchecks(compose, name, probe):
    test = compose["services"][name]["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert probe in text


def test_gateway_healthcheck_needs_no_curl_in_the_slim_image(compose):
    test = compose["services"]["gateway"]["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert "curl" not in text and "urllib" in text


def test_compose_file_is_valid_for_docker_compose():
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not on PATH (Debian: apt-get install -y docker-compose)"
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_cluster_profile_adds_two_nodes_that_join_the_first_with_one_cookie(compose):
    nodes = {name: compose["services"][name] for name in ("rabbitmq", "rabbitmq-2", "rabbitmq-3")}
    assert {n["hostname"] for n in nodes.values()} == set(nodes)
    assert len({_environment(n)["RABBITMQ_ERLANG_COOKIE"] for n in nodes.values()}) == 1
    assert all(nodes[name]["profiles"] == ["cluster"] for name in ("rabbitmq-2", "rabbitmq-3"))
    assert "profiles" not in nodes["rabbitmq"]  # the default system keeps one broker
    conf = (ROOT / "deploy" / "rabbitmq-cluster.conf").read_text()
    assert all(f"rabbit@{name}" in conf for name in nodes)


@pytest.mark.parametrize("name", PRAXIS_CONTAINERS)
def test_every_praxis_container_can_be_told_to_use_quorum_queues(compose, name):
    assert _environment(compose["services"][name])["PRAXIS_QUEUE_TYPE"] == "${PRAXIS_QUEUE_TYPE:-}"
