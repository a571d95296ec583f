"""Reliable events, written once for every service.

Publishing: a service stores the event it owes *in the same document write* as the
state change (``pending_events`` on an ``OutboxDocument``, with the indexed flag
``outbox_pending``). The ``Outbox`` relay publishes them with publisher confirms
and then pulls them off the document by ``_id``. A crash between publishing and
pulling publishes again; consumers dedupe. The relay runs right after every worker
and every few seconds (a full sweep of every document only at start), so a service that
died mid-flow catches up when it restarts. At start-up the relay declares every
consumer queue of contracts.topology, so nothing is published into nothing; and
it publishes every event that has consumers as *mandatory*: when the broker lost
its definitions (a node rebuilt, a vhost recreated) while a consumer was down, the
broker returns the event instead of confirming it, and the relay declares the
topology again and publishes once more. An event is pulled off its document only
once the broker has routed it to every consumer queue it has.

Consuming: ``@on_event(EVENT_TYPE)`` validates the envelope and payload
(invalid -> kept in ``dead_letters`` with the reason, acknowledged, the consumer
goes on), skips an ``event_id`` it has applied before (``inbox``, unique ``_id``),
retries passing failures (database down) with backoff and then requeues, and
keeps events whose handler fails for good in ``dead_letters`` with the traceback.
A message that cannot even be decoded (broken JSON, a pickle) is kept too, raw.
A dead letter is never deleted: ``praxis dead-letters replay`` marks it
``replayed`` and sends the event to that one consumer's queue; the consumer marks
it ``applied`` once it is, or ``dead`` again (one more rejection) if it fails again.
A crash between a handler's effect and the inbox mark re-applies the event, so
handlers also write with event-derived ids (upserts, ``$setOnInsert``).
"""
import contextlib
import dataclasses
import hashlib
import json
import logging
import threading
import time
import traceback
from datetime import datetime, timezone
from functools import partial

import eventlet
import mongoengine
from amqp.exceptions import ChannelError as AmqpChannelError
from kombu import Connection
from kombu.exceptions import ChannelError
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer
from pymongo import UpdateOne
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from contracts import topology
from contracts.events import InvalidEvent, parse_event
from services.common.config import amqp_uri
from services.common.rpc import SafeQueueConsumer

log = logging.getLogger("praxis.events")

# Failures worth retrying: the database (or the network to it) is away for now.
TRANSIENT = (ConnectionFailure,)
RETRY_DELAYS = (0.2, 0.5, 1, 2, 4, 8)  # then the message is requeued, never dropped
# Documents with events still to publish ($elemMatch: nx-27017 does not serve
# "pending_events.0": {"$exists": true}).
PENDING = {"pending_events": {"$elemMatch": {"event_id": {"$exists": True}}}}
FLAGGED = {"outbox_pending": 1}


class OutboxDocument(mongoengine.Document):
    """Base of every document that owes events: they are saved with it.

    ``outbox_pending`` is 1 while events wait: the relay finds them through an
    index on it instead of scanning the collection. A raw pymongo write that
    stores events sets it too (``owing(events)``); a write that forgets is
    still relayed by the full sweep at the next start (or every ``full_sweep_interval``
    where a service asks for one), with a warning.
    """
    meta = {"abstract": True}
    pending_events = mongoengine.ListField(mongoengine.DictField(), default=list)
    outbox_pending = mongoengine.IntField(null=True)

    def clean(self):
        if self.pending_events:
            self.outbox_pending = 1


def owing(events):
    """The fields a raw write sets beside the events it stores (``$set`` or insert)."""
    return {"outbox_pending": 1} if events else {}


def declare_topology(uri=None):
    with Connection(uri or amqp_uri()) as connection:
        topology.declare_all(connection)


class Outbox(DependencyProvider):
    """``outbox = Outbox(ProgramDoc, ...)``: relays the pending events of those documents."""

    def __init__(self, *documents, retry_interval=2.0, full_sweep_interval=None, min_gap=0.05,
                 batch=200, concurrency=8, hinted=False):
        """``full_sweep_interval``: seconds between full sweeps after the one at start
        (None: only at start; a full sweep reads every document of the collections, so
        it grows with them). ``hinted``: every write that stores events calls
        ``outbox_written(document)``, so a sweep after a worker reads only the
        collections written since (the timed sweep every ``retry_interval`` reads all)."""
        self.documents = documents
        self.hinted = hinted
        self.retry_interval = retry_interval
        self.full_sweep_interval = full_sweep_interval
        self.min_gap = min_gap
        self.batch = batch
        self.concurrency = concurrency

    def setup(self):
        uri = self.container.config["AMQP_URI"]
        self.publisher = Publisher(uri, use_confirms=True, serializer="json")
        self._wake = threading.Event()  # green under nameko's monkey-patching
        self._running = False
        # waiting for a confirm costs ~1 ms: documents are published side by side
        self._pool = eventlet.GreenPool(self.concurrency)
        declare_topology(uri)

    def start(self):
        for document in self.documents:
            document._get_collection().create_index("outbox_pending", sparse=True)
        self._running = True
        self.container.spawn_managed_thread(self._relay_forever, identifier="outbox-relay")

    def stop(self):
        self._running = False
        self._wake.set()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        self._wake.set()  # a worker may have saved events: relay them now

    def _relay_forever(self):
        last_full_sweep = None  # the first sweep is full: what a crash left behind
        last_sweep = 0.0
        self._wake.set()
        while self._running:
            woken = self._wake.wait(self.retry_interval)
            self._wake.clear()
            if relay_held():  # bulk work writing events: publish them after it (see holding_relay)
                continue
            # coalesce under load (at most one sweep per min_gap), none of it when idle
            eventlet.sleep(max(0.0, self.min_gap - (time.monotonic() - last_sweep)))
            full = last_full_sweep is None or (
                self.full_sweep_interval is not None
                and time.monotonic() - last_full_sweep >= self.full_sweep_interval)
            only = _take_written(self.documents) if self.hinted and woken and not full else None
            try:
                while self.relay(full=full, only=only) == self.batch and not relay_held():  # a backlog
                    pass
                if full:
                    last_full_sweep = time.monotonic()
            except Exception:  # broker or database away: keep the events, try again
                log.exception("outbox relay failed; retrying", extra={"service": self.container.service_name})
                eventlet.sleep(1)
            last_sweep = time.monotonic()

    def relay(self, full=False, only=None):
        """Publish the pending events of up to ``batch`` documents per collection
        (flagged ones; every one when ``full``; of the collections named in ``only``
        when given); return the largest count found."""
        busiest = 0
        for document in self.documents:
            collection = document._get_collection()
            if only is not None and collection.name not in only:
                continue
            docs = list(collection.find(PENDING if full else FLAGGED,
                                        {"pending_events": 1, "outbox_pending": 1}).limit(self.batch))
            published, failure = [], None
            for doc, error in self._pool.imap(partial(self._publish_document, collection), docs):
                if error is None:
                    published.append(doc)
                else:
                    failure = failure or error
            _pull_published(collection, published)
            if failure is not None:
                raise failure
            busiest = max(busiest, len(docs))
        return busiest

    def _publish_document(self, collection, doc):
        """Publish one document's events in order; (doc, None) or (doc, the failure)."""
        stored = doc.get("pending_events") or []
        if stored and doc.get("outbox_pending") != 1:
            log.warning("a write stored events without setting outbox_pending (see owing())",
                        extra={"collection": collection.name, "doc_id": str(doc["_id"])})
        try:
            for event in stored:  # in order: a document's events keep their sequence
                self.publish(_decoded(event))
        except Exception as exc:  # noqa: BLE001  (the caller re-raises it after the pulls)
            return doc, exc
        return doc, None

    def publish(self, event):
        exchange = topology.event_exchange(event["source"])
        queues = _consumer_queues(event["source"], event["type"])
        # an event with consumers must reach a queue: the broker returns it otherwise
        mandatory = bool(queues)
        send = partial(
            self.publisher.publish, event, exchange=exchange,
            # kombu declares these once per connection, and again on every new one: a
            # broker that lost its definitions (restarted with none) closed the old
            # connection, and its other consumers may have declared their own queues
            # already, so that a mandatory publish would be routed and confirmed
            # without reaching the queue of a consumer that is still down
            declare=[exchange, *queues],
            routing_key=event["type"], message_id=event["event_id"],
            correlation_id=event["correlation_id"], mandatory=mandatory)
        try:
            send()
        except (UndeliverableMessage, ChannelError, AmqpChannelError) as exc:  # no queue, or no exchange (404)
            log.warning("the broker lost its definitions; declaring the topology again", extra={
                "event_id": event["event_id"], "event_type": event["type"], "error": repr(exc)})
            declare_topology(self.container.config["AMQP_URI"])
            send()  # raises again if still unroutable: the event stays in the outbox
        log.info("event published", extra={
            "event_id": event["event_id"], "event_type": event["type"],
            "correlation_id": event["correlation_id"], "school_id": event["school_id"]})


_QUEUES = {}


def _consumer_queues(source, event_type):
    """The consumer queues (bound to their exchange) of an event type, from contracts.topology."""
    if not _QUEUES:
        for queue in topology.all_queues():
            _QUEUES.setdefault((queue.exchange.name, queue.routing_key), []).append(queue)
    return _QUEUES.get((topology.event_exchange(source).name, event_type), [])


def _pull_published(collection, docs):
    """One bulk write for a batch of published documents: remove exactly what was
    published from each (events added meanwhile stay), then lower its flag only if
    nothing is left."""
    updates = []
    for doc in docs:
        stored = doc.get("pending_events") or []
        updates += [UpdateOne({"_id": doc["_id"]}, {"$pull": {"pending_events": {"$in": stored}}}),
                    UpdateOne({"_id": doc["_id"], "pending_events": {"$size": 0}},
                              {"$unset": {"outbox_pending": ""}})]
    if updates:
        collection.bulk_write(updates, ordered=True)


# --- holding the relay during bulk work ---------------------------------------
# A selection job writes thousands of decisions, each with its event. The relay in the
# same process would publish them while the job writes (one confirm per event, and a
# pull per document on the same database), which made the job take 5-7x as long. A job
# holds the relay while it writes; the events wait in the outbox (stored with their
# decisions, as always) and are published once it is done. A hold lasts at most
# RELAY_HOLD_SECONDS, so the events of a job that hangs are published anyway.
RELAY_HOLD_SECONDS = 60.0
_holds = {}  # hold id -> when it began (monotonic), for holds of this process


@contextlib.contextmanager
def holding_relay():
    """``with holding_relay(): ...``: this process's relays publish nothing meanwhile."""
    key = object()
    _holds[key] = time.monotonic()
    try:
        yield
    finally:
        _holds.pop(key, None)


def relay_held():
    now = time.monotonic()
    return any(now - began < RELAY_HOLD_SECONDS for began in _holds.values())


_written = set()  # names of collections written with events since the relay last looked


def outbox_written(document):
    """Tell the relay of a hinted Outbox that ``document``'s collection holds new events."""
    _written.add(document._get_collection_name())


def _take_written(documents):
    """The collections of ``documents`` written since the last look (others' stay:
    several services may run in one process, as in the integration tests)."""
    taken = _written & {d._get_collection_name() for d in documents}
    _written.difference_update(taken)
    return taken


def _decoded(event):
    # nx-27017 keeps array elements added with $push as JSON strings (and turns the
    # array's other elements into strings too); MongoDB keeps documents
    return json.loads(event) if isinstance(event, str) else event


# --- the consumer side -------------------------------------------------------

def already_applied(db, event_id):
    return db.inbox.find_one({"_id": event_id}, {"_id": 1}) is not None


def mark_applied(db, event):
    try:
        db.inbox.insert_one({"_id": event.event_id, "type": event.type, "source": event.source,
                             "applied_at": datetime.now(timezone.utc)})
    except DuplicateKeyError:
        pass  # applied by a concurrent redelivery: same effect


REPLAY_HEADER = "praxis-replay"  # the dead letter a replayed message comes from


def keep_dead_letter(db, consumer, body, reason, errors=None, event_id=None):
    """Keep (or, for a letter replayed and rejected again, keep again) a dead letter."""
    key = (event_id or (body.get("event_id") if isinstance(body, dict) else None)
           or hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest())
    db.dead_letters.update_one(
        {"_id": f"{consumer}:{key}"},
        {"$setOnInsert": {"consumer": consumer, "body": body, "received_at": datetime.now(timezone.utc)},
         "$set": {"state": "dead", "reason": reason, "errors": errors or {}, "rejected_ts": time.time()},
         "$inc": {"rejections": 1}},
        upsert=True)


def mark_replay_applied(db, message):
    letter_id = (message.headers or {}).get(REPLAY_HEADER)
    if letter_id:
        db.dead_letters.update_one({"_id": letter_id}, {"$set": {"state": "applied",
                                                                 "applied_ts": time.time()}})


def keep_undecodable(db, consumer, message, exc):
    """A message that cannot be decoded, kept raw (text when it is text, else hex)."""
    raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.hex()
    body = {"raw": text, "content_type": message.content_type,
            "content_encoding": message.content_encoding,
            "routing_key": (message.delivery_info or {}).get("routing_key"),
            "message_id": message.properties.get("message_id")}
    keep_dead_letter(db, consumer, body, f"the message cannot be decoded: {exc.__class__.__name__}: {exc}",
                     event_id=hashlib.sha256(raw).hexdigest())


def _with_retry(fn):
    """Run a database step, waiting out a passing outage (bounded)."""
    for delay in RETRY_DELAYS:
        try:
            return fn()
        except TRANSIENT:
            eventlet.sleep(delay)
    return fn()


class KeepingQueueConsumer(SafeQueueConsumer):
    """The event handlers' consumer: a message that cannot be decoded is kept as a
    dead letter, not acknowledged and dropped (kombu's default); an ack on a
    connection the broker just dropped is not fatal (SafeQueueConsumer)."""

    def on_decode_error(self, message, exc):
        consumer = self.container.service_name
        try:
            _with_retry(lambda: keep_undecodable(get_db(consumer), consumer, message, exc))
        except PyMongoError:
            log.exception("cannot keep an undecodable message; requeued", extra={"consumer": consumer})
            return self.requeue_message(message)
        log.error("undecodable message kept as dead letter", extra={
            "consumer": consumer, "content_type": message.content_type, "error": repr(exc)})
        self.ack_message(message)


class ReliableEventHandler(EventHandler):

    queue_consumer = KeepingQueueConsumer()

    def __init__(self, event_type, inbox=True, **kwargs):
        """``inbox=False`` only for a handler whose every write is keyed by the event
        (an insert-once on an id made from the event id): a redelivery writes
        nothing new, so the inbox's read and write per event would be pure cost."""
        self.praxis_event_type = event_type
        self.inbox = inbox
        super().__init__(event_type.source, event_type.type, requeue_on_error=True, **kwargs)

    def setup(self):
        # the queue comes from contracts.topology, the same table that every
        # service declares at start-up (nameko would name it after the method)
        self.queue = topology.consumer_queue(self.container.service_name, self.praxis_event_type)
        Consumer.setup(self)

    def _db(self):
        return get_db(self.container.service_name)

    def handle_message(self, body, message):
        consumer = self.container.service_name
        try:
            event = parse_event(body, expected=self.praxis_event_type)
        except InvalidEvent as exc:
            try:
                _with_retry(lambda: keep_dead_letter(self._db(), consumer, body, exc.reason, exc.errors))
            except PyMongoError:
                log.exception("cannot keep invalid event; requeued")
                return self.queue_consumer.requeue_message(message)
            log.warning("invalid event rejected and kept", extra={
                "consumer": consumer, "reason": exc.reason, "errors": exc.errors,
                "event_id": body.get("event_id") if isinstance(body, dict) else None})
            return self.queue_consumer.ack_message(message)
        try:
            if self.inbox and _with_retry(lambda: already_applied(self._db(), event.event_id)):
                log.info("duplicate event skipped", extra={"consumer": consumer, "event_id": event.event_id})
                _with_retry(lambda: mark_replay_applied(self._db(), message))
                return self.queue_consumer.ack_message(message)
        except PyMongoError:
            return self.queue_consumer.requeue_message(message)
        self._spawn(event, message, attempt=0)

    def _spawn(self, event, message, attempt):
        context = {"correlation_id": event.correlation_id, "event_id": event.event_id}
        self.container.spawn_worker(
            self, (event,), {}, context_data=context,
            handle_result=partial(self._handled, event, message, attempt))

    def _handled(self, event, message, attempt, worker_ctx, result=None, exc_info=None):
        consumer = self.container.service_name
        extra = {"consumer": consumer, "event_id": event.event_id, "event_type": event.type,
                 "correlation_id": event.correlation_id}
        if exc_info is None:
            try:
                if self.inbox:
                    _with_retry(lambda: mark_applied(self._db(), event))
                _with_retry(lambda: mark_replay_applied(self._db(), message))
            except PyMongoError:
                # the effect is idempotent: a redelivery applies it again harmlessly
                log.exception("could not mark event applied; requeued", extra=extra)
                self.queue_consumer.requeue_message(message)
                return result, exc_info
            log.info("event applied", extra=extra)
            self.queue_consumer.ack_message(message)
        elif issubclass(exc_info[0], TRANSIENT):
            if attempt < len(RETRY_DELAYS):
                log.warning("event handler failed for a passing reason; retrying",
                            extra={**extra, "attempt": attempt + 1})
                eventlet.spawn_after(RETRY_DELAYS[attempt], self._spawn, event, message, attempt + 1)
            else:
                log.error("event handler still failing; requeued", extra=extra)
                self.queue_consumer.requeue_message(message)
        else:
            reason = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
            try:
                _with_retry(lambda: keep_dead_letter(
                    self._db(), consumer, _envelope_of(event), reason, event_id=event.event_id))
            except PyMongoError:
                self.queue_consumer.requeue_message(message)
                return result, exc_info
            log.error("event handler failed; event kept as dead letter", extra={**extra, "reason": reason})
            self.queue_consumer.ack_message(message)
        return result, exc_info


def _envelope_of(event):
    return _jsonable(dataclasses.asdict(event))


envelope_of = _envelope_of  # the JSON-ready envelope of a parsed Event (e.g. to forward it)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


on_event = ReliableEventHandler.decorator
