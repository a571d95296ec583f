"""Configuration from the environment (AMQP_URI, MONGO_URI, PRAXIS_*)."""
import os

SERVICES = ("enrollment", "content", "assessment", "incentives", "supervision", "webhooks")


def amqp_uri():
    return os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def mongo_uri():
    return os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")


def database_name(owner):
    """Each service (and the gateway) has its own database, ``praxis_<owner>``;
    PRAXIS_DB_PREFIX lets a test run use its own set on a shared server."""
    return f"{os.environ.get('PRAXIS_DB_PREFIX', 'praxis')}_{owner}"


def nameko_config():
    return {
        "AMQP_URI": amqp_uri(),
        "serializer": "json",
        "max_workers": int(os.environ.get("PRAXIS_MAX_WORKERS", "10")),
        "parent_calls_tracked": 10,
    }
