"""Route guards without a server: same-origin POSTs, Secure cookies behind https, the image route's allow-list."""

from starlette.requests import Request

from components.auth import _secure, same_origin
from components.media import SAFE_IMAGE_TYPES, asset_url, serve_asset


def _request(headers: dict[str, str], scheme: str = "http", path: str = "/auth/session") -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": scheme,
            "path": path,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "server": ("parley.internal", 443 if scheme == "https" else 80),
            "query_string": b"",
            "path_params": {"asset_id": path.rsplit("/", 1)[-1]},
        }
    )


def test_only_our_own_page_may_post():
    host = {"host": "parley.internal"}
    assert same_origin(_request({**host, "x-parley": "1"}))
    assert same_origin(_request({**host, "x-parley": "1", "origin": "https://parley.internal"}))
    assert not same_origin(_request(host))  # a plain cross-site form cannot add the header
    assert not same_origin(_request({**host, "x-parley": "1", "origin": "https://evil.example"}))
    assert not same_origin(
        _request({**host, "x-parley": "1", "origin": "https://parley.internal.evil.example"})
    )


def test_cookie_is_secure_behind_https():
    assert _secure(_request({}, scheme="https"))
    assert _secure(_request({"x-forwarded-proto": "https"}))
    assert not _secure(_request({}))


def test_image_urls_and_types():
    assert asset_url("ab" * 32) == "/asset/" + "ab" * 32
    assert {"image/png", "image/jpeg", "image/gif", "image/webp"} == SAFE_IMAGE_TYPES


def test_malformed_asset_id_is_refused_before_any_lookup():
    response = serve_asset(_request({}, path="/asset/..%2Fdata"))
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"
