"""The raw stack's HTTP baselines, served like the gateway (gunicorn, gevent
workers, 2 workers): ``gunicorn --worker-class gevent --workers 2 bench.bare_app:app``.

/health   one Flask JSON endpoint, nothing else
/rpc      the same plus one nameko RPC to bench.bare_service through an open,
          pooled ClusterRpcProxy (one per in-flight request, never shared)
/record   POST: the raw reference of a write: the JSON body through one pooled RPC to
          a bare service that inserts it, finds it by id and publishes one event
"""
import os
import queue

from flask import Flask, jsonify, request
from nameko.standalone.rpc import ClusterRpcProxy

app = Flask(__name__)
_idle = queue.LifoQueue()


@app.get("/health")
def health():
    return jsonify(status="ok")


def _call(method, *args):
    try:
        runner, cluster = _idle.get_nowait()
    except queue.Empty:
        runner = ClusterRpcProxy({"AMQP_URI": os.environ["AMQP_URI"], "serializer": "json"}, timeout=10)
        cluster = runner.start()
    try:
        answer = getattr(cluster.bench_bare, method)(*args)
    except Exception:
        runner.stop()
        raise
    _idle.put((runner, cluster))
    return answer


@app.get("/rpc")
def rpc():
    return jsonify(_call("echo", "x"))


@app.post("/record")
def record():
    return jsonify(_call("record", request.get_json())), 201
