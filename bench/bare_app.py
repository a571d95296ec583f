"""The raw stack's HTTP baselines, served like the gateway (gunicorn, gevent
workers, 2 workers): ``gunicorn --worker-class gevent --workers 2 bench.bare_app:app``.

/health   one Flask JSON endpoint, nothing else
/rpc      the same plus one nameko RPC to bench.bare_service through an open,
          pooled ClusterRpcProxy (one per in-flight request, never shared)
"""
import os
import queue

from flask import Flask, jsonify
from nameko.standalone.rpc import ClusterRpcProxy

app = Flask(__name__)
_idle = queue.LifoQueue()


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.get("/rpc")
def rpc():
    try:
        runner, cluster = _idle.get_nowait()
    except queue.Empty:
        runner = ClusterRpcProxy({"AMQP_URI": os.environ["AMQP_URI"], "serializer": "json"}, timeout=10)
        cluster = runner.start()
    try:
        answer = cluster.bench_bare.echo("x")
    except Exception:
        runner.stop()
        raise
    _idle.put((runner, cluster))
    return jsonify(answer)
