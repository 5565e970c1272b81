"""Images for the canvas: `asset_url(id)` and the same-origin route that serves them to signed-in users."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from store import db
from store.access import can_see_asset
from store.blobs import get_blob_store
from store.models import Asset
from store.sessions import COOKIE, verify_session

# Only raster formats a browser renders inertly; SVG and HTML could carry script.
SAFE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
    # Content-addressed: the bytes behind a URL never change.
    "Cache-Control": "private, max-age=31536000, immutable",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def asset_url(asset_id: str) -> str:
    """The same-origin URL of an image asset (its sha256), for <img src> in the canvas."""
    return f"/asset/{asset_id}"


def _not_found() -> Response:
    return Response(
        "not found", status_code=404, media_type="text/plain", headers={"Cache-Control": "no-store"}
    )


def serve_asset(request: Request) -> Response:
    """GET /asset/<sha256>: the image to a signed-in user, 404 to anyone else or for anything unsafe."""
    asset_id = request.path_params["asset_id"]
    if not _SHA256.match(asset_id):
        return _not_found()
    with db.read_session() as session:
        found = verify_session(session=session, token=request.cookies.get(COOKIE))
        if found is None or not can_see_asset(session=session, user=found[0], asset_id=asset_id):
            return _not_found()  # an image only a restricted dataset shows: not to others (same answer)
        asset = session.get(Asset, asset_id)
    if asset is None or asset.mime not in SAFE_IMAGE_TYPES:
        return _not_found()
    try:
        data = get_blob_store().get(asset_id)
    except Exception:  # missing blob (local or S3): the same answer as an unknown id
        return _not_found()
    return Response(data, media_type=asset.mime, headers=_HEADERS)


def media_routes() -> list[Route]:
    return [Route("/asset/{asset_id}", serve_asset, methods=["GET"])]
