"""`users add NAME --role R --password-stdin`."""

from __future__ import annotations

import argparse
import sys

from store import db
from store.users import ROLES, create_user, list_users


def register(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_cmd", required=True)
    p = users.add_parser("add", help="add a user; the password is read from standard input")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password-stdin", action="store_true", required=True)
    p.add_argument("--display-name", default="")
    p.set_defaults(func=_add)
    p = users.add_parser("list", help="list users: name, role, active")
    p.set_defaults(func=_list)


def _add(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\r\n")
    db.upgrade()
    with db.write_session() as session:
        user = create_user(
            session=session,
            username=args.name,
            password=password,
            role=args.role,
            display_name=args.display_name,
        )
    print(f"added {user.role} {user.username}")
    return 0


def _list(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.read_session() as session:
        for user in list_users(session=session):
            print(f"{user.username}\t{user.role}\t{'active' if user.active else 'inactive'}")
    return 0
