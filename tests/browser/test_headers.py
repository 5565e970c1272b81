"""Security headers on what the real server sends: the app's page, Streamlit's own routes, and ours."""

from __future__ import annotations

import urllib.error
import urllib.request

PATHS = ["/", "/evaluate", "/_stcore/health", "/asset/" + "0" * 64]


def _headers(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:  # our /asset route answers 404 for an unknown (or unauthorised) id
        return err.code, {k.lower(): v for k, v in err.headers.items()}


def test_every_response_says_nosniff_referrer_and_frame_ancestors(app_server):
    for path in PATHS:
        status, headers = _headers(app_server.url + path)
        assert status in (200, 404), (path, status)
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "same-origin", path
        assert "frame-ancestors 'self'" in headers.get("content-security-policy", ""), path
        assert headers.get("x-frame-options") == "SAMEORIGIN", path
