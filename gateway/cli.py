"""``praxis``: the operator's command line.

    praxis keys create --school jufe --role admin [--partner acme] [--name "..."]
    praxis keys revoke KEY_ID
    praxis topology            declare every exchange and consumer queue
    praxis demo [--students N] seed a running Praxis with a demo programme
    praxis dead-letters list   events a consumer could not apply, with the reason
    praxis dead-letters replay SERVICE ID
    praxis import applications FILE --program ID --school SCHOOL
                               CSV of applications from the LMS, through the enrollment service
    praxis incentives reconcile [--program ID] [--rebuild]
                               compare every balance with the sum of its ledger entries
                               (--rebuild: set the balances that differ to those sums)
    praxis lti migrate-store   move the LTI store of an earlier version from the gateway's
                               database into the webhooks service's (once, after upgrading)
"""
import argparse
import json
import sys
import time

from gateway import auth


def _keys_create(args):
    try:
        key = auth.create_key(args.school, args.role, partner_id=args.partner, name=args.name)
    except ValueError as exc:
        sys.exit(f"praxis: {exc}")
    print(key)
    print("Keep it now: only its hash is stored.", file=sys.stderr)


def _keys_revoke(args):
    if not auth.revoke_key(args.key_id):
        sys.exit(f"praxis: no active key {args.key_id}")
    print(f"revoked {args.key_id}")


def _topology(args):
    from services.common.events import declare_topology
    declare_topology()
    print("declared every consumer queue")


def _dead_letters_list(args):
    from services.common.config import SERVICES
    from services.common.storage import connect
    found = 0
    for service in SERVICES:
        for letter in connect(service).dead_letters.find().sort("received_at", 1):
            found += 1
            print(json.dumps({"service": service, "id": letter["_id"], "state": letter.get("state", "dead"),
                              "rejections": letter.get("rejections", 1), "reason": letter["reason"],
                              "errors": letter.get("errors"), "received_at": letter["received_at"]},
                             default=str))
    print(f"{found} dead letter(s)", file=sys.stderr)


def _dead_letters_replay(args):
    """Send a kept event again to the one consumer that kept it. The letter stays:
    marked ``replayed`` now, ``applied`` by the consumer once applied, ``dead`` again
    (one more rejection) if it fails again. A consumer that applied it already skips it."""
    from types import SimpleNamespace

    from nameko.amqp.publish import Publisher, UndeliverableMessage

    from contracts import topology
    from services.common.config import amqp_uri
    from services.common.events import REPLAY_HEADER
    from services.common.storage import connect
    db = connect(args.service)
    letter = db.dead_letters.find_one({"_id": args.id})
    if letter is None:
        sys.exit(f"praxis: no dead letter {args.id} in {args.service}")
    body = letter["body"]
    if not isinstance(body, dict) or "source" not in body or "type" not in body:
        sys.exit("praxis: this dead letter is not an event envelope; it cannot be replayed")
    queue = topology.consumer_queue(args.service, SimpleNamespace(source=body["source"], type=body["type"]))
    previous = letter.get("state", "dead")
    # marked before it is sent: the consumer may apply it at once
    db.dead_letters.update_one({"_id": args.id}, {"$set": {"state": "replayed", "replayed_ts": time.time()},
                                                   "$inc": {"replays": 1}})
    try:  # the default exchange routes to the one queue named
        Publisher(amqp_uri(), use_confirms=True).publish(
            body, exchange="", routing_key=queue.name, mandatory=True,
            message_id=body.get("event_id"), headers={REPLAY_HEADER: args.id})
    except UndeliverableMessage:
        db.dead_letters.update_one({"_id": args.id}, {"$set": {"state": previous}})
        sys.exit(f"praxis: {args.service} has no queue {queue.name}; nothing was sent")
    except Exception:
        db.dead_letters.update_one({"_id": args.id}, {"$set": {"state": previous}})
        raise
    print(f"replayed {args.id} to {queue.name}")


def _import_applications(args):
    from services.enrollment.importer import main as import_main
    sys.exit(import_main(args.file, args.program, args.school))


def _incentives_reconcile(args):
    """Print every balance that differs from the sum of its entries; exit 1 if any."""
    from services.common.storage import connect
    from services.incentives.repository import IncentivesRepository
    connect("incentives")
    repository = IncentivesRepository()
    differences = repository.reconcile(args.program)
    for difference in differences:
        print(json.dumps(difference, sort_keys=True))
    print(f"{len(differences)} difference(s)", file=sys.stderr)
    if differences and args.rebuild:
        for difference in differences:
            if difference["spendable"] is not None:  # (entries without an account: nothing to rebuild)
                fixed = repository.rebuild(f"{difference['program_id']}:{difference['student_id']}")
                print(json.dumps({"rebuilt": difference["student_id"], "program_id": difference["program_id"],
                                  **fixed}, sort_keys=True))
        differences = repository.reconcile(args.program)
        print(f"after rebuilding: {len(differences)} difference(s)", file=sys.stderr)
    sys.exit(1 if differences else 0)


def _lti_migrate_store(args):
    from gateway.db import get_db
    from services.common.storage import connect
    from services.webhooks.lti_migration import migrate
    print(json.dumps(migrate(get_db(), connect("webhooks")), sort_keys=True))


def _demo(args):
    from gateway.demo import seed
    seed(args.url, args.school, args.students)


def build_parser():
    parser = argparse.ArgumentParser(prog="praxis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--school", required=True)
    create.add_argument("--role", required=True, choices=auth.ROLES)
    create.add_argument("--partner", help="the enterprise partner (role partner)")
    create.add_argument("--name", default="")
    create.set_defaults(func=_keys_create)
    revoke = keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_keys_revoke)

    commands.add_parser("topology", help="declare every consumer queue").set_defaults(func=_topology)

    demo = commands.add_parser("demo", help="seed a running Praxis with a demo programme")
    demo.add_argument("--url", default="http://127.0.0.1:8080")
    demo.add_argument("--school", default="demo")
    demo.add_argument("--students", type=int, default=60)
    demo.set_defaults(func=_demo)

    letters = commands.add_parser("dead-letters", help="events a consumer could not apply").add_subparsers(
        dest="action", required=True)
    letters.add_parser("list", help="every kept event with its reason").set_defaults(func=_dead_letters_list)
    replay = letters.add_parser("replay", help="publish a kept event again (after a fix)")
    replay.add_argument("service")
    replay.add_argument("id")
    replay.set_defaults(func=_dead_letters_replay)

    imports = commands.add_parser("import", help="import records from the LMS").add_subparsers(
        dest="what", required=True)
    applications = imports.add_parser(
        "applications", help="a CSV of applications, one a line: student_id, name, track, major, "
                             "year_of_study, prior_courses (';'-separated), motivation")
    applications.add_argument("file")
    applications.add_argument("--program", required=True, help="the programme's id")
    applications.add_argument("--school", required=True, help="the school the programme belongs to")
    applications.set_defaults(func=_import_applications)

    incentives = commands.add_parser("incentives", help="the credit ledger").add_subparsers(
        dest="action", required=True)
    reconcile = incentives.add_parser("reconcile", help="compare every balance with the sum of its entries")
    reconcile.add_argument("--program", help="only this programme")
    reconcile.add_argument("--rebuild", action="store_true", help="set the balances that differ to their entries' sums")
    reconcile.set_defaults(func=_incentives_reconcile)

    lti = commands.add_parser("lti", help="LTI 1.3").add_subparsers(dest="action", required=True)
    lti.add_parser("migrate-store", help="move an earlier version's LTI store from the gateway's database "
                                         "into the webhooks service's").set_defaults(func=_lti_migrate_store)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
