"""The operator behind the CLI, for store functions that take a signed-in user: an admin not in the table.

It is never added to a session; audit and history rows it writes have no user (user_id None), as the other
commands' writes (user=None) have.
"""

from __future__ import annotations

from store.models import User


def cli_admin() -> User:
    return User(id=None, username="cli", display_name="command line", role="admin", active=True)
