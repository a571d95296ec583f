"""``praxis``: the operator's command line.

    praxis keys create --school jufe --role admin [--partner acme] [--name "..."]
    praxis keys revoke KEY_ID
    praxis topology            declare every exchange and consumer queue
"""
import argparse
import sys

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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
