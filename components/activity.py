"""POST /activity: the tool pages report an annotator's active seconds on an item (components/dialogue)."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from components.auth import same_origin
from store import db
from store.annotations import add_active_time
from store.errors import InputError, NotFound
from store.sessions import COOKIE, verify_session


def _add(token: str | None, item_id: int, seconds: float) -> int:
    with db.write_session() as session:
        found = verify_session(session=session, token=token)
        if found is None:
            return 403
        user = found[0]
        try:
            return (
                204 if add_active_time(session=session, user=user, item_id=item_id, seconds=seconds) else 202
            )
        except (InputError, NotFound):
            return 404


async def activity_route(request: Request) -> Response:
    """204: added; 202: nothing to add it to yet (no annotation: the page keeps the seconds and sends them
    again; not a 404, which a browser logs as a console error); 404: not an item this user may open;
    403: signed out."""
    if not same_origin(request):
        return Response("forbidden", status_code=403, media_type="text/plain")
    try:
        body = json.loads(await request.body() or b"{}")
        item_id, seconds = int(body["item"]), float(body["seconds"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return Response("bad request", status_code=400, media_type="text/plain")
    status = await run_in_threadpool(_add, request.cookies.get(COOKIE), item_id, seconds)
    return Response(status_code=status, headers={"Cache-Control": "no-store"})


def activity_routes() -> list[Route]:
    return [Route("/activity", activity_route, methods=["POST"])]
