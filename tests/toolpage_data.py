"""Test data for the tool-page shell: users, a dataset, items with images and candidates, straight into the DB."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session

from store.blobs import get_blob_store
from store.models import Asset, Classification, Item
from tests.utils import make_dataset, make_user

XSS_TEXT = (
    "Look: <script>window.__pwned = 1; alert('x')</script> and <img src=x onerror=\"window.__pwned=2\"> "
    "and [click me](javascript:window.__pwned=3) end"
)


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def add_asset(session: Session, data: bytes, blobs: str | None = None) -> str:
    asset_id = hashlib.sha256(data).hexdigest()
    if session.get(Asset, asset_id) is None:
        session.add(Asset(id=asset_id, mime="image/png", width=64, height=48, bytes=len(data)))
        session.commit()
    get_blob_store(blobs).put(asset_id, data, content_type="image/png")
    return asset_id


def dialogue(n_turns: int, images: list[str], tag: str = "") -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "text": "You are a helpful assistant."}]
    for t in range(n_turns):
        role = "user" if t % 2 == 0 else "bot"
        text = f"Turn {t + 1} {tag} from the {role}: the quick brown fox"
        if t == 1:
            text += "\n\n```python\nprint('hello')\n```"
        msg: dict[str, Any] = {"role": role, "text": text}
        if t == 0 and images:
            msg["images"] = images
        messages.append(msg)
    return messages


def seed(
    engine: Engine, *, blobs: str | None = None, items: int = 5, role: str = "annotator"
) -> dict[str, Any]:
    """Users ann (role), bob (annotator), rev (reviewer); dataset "demo" with `items` items (ids 1..n)."""
    with Session(engine, expire_on_commit=False) as session:
        ann = make_user(session, "ann", role=role)
        bob = make_user(session, "bob")
        rev = make_user(session, "rev", role="reviewer")
        ds = make_dataset(session, "demo")
        img1 = add_asset(session, png((200, 40, 40)), blobs)
        img2 = add_asset(session, png((40, 40, 200), (48, 64)), blobs)
        rows = []
        for i in range(1, items + 1):
            msgs = dialogue(4, [img1, img2] if i == 1 else [], tag=f"item{i}")
            if i == 2:
                msgs.append({"role": "user", "text": XSS_TEXT})
            rows.append(
                {
                    "dataset_id": ds.id,
                    "external_id": str(i),
                    "name": f"item {i}",
                    "position": i,
                    "messages": msgs,
                    "candidates": [
                        {"text": f"Candidate A for item {i}: **bold** fox"},
                        {"text": f"Candidate B for item {i}: plain"},
                        {"text": f"Candidate C for item {i}: `code` fox"},
                    ],
                    "meta": {},
                }
            )
        session.execute(insert(Item), rows)
        session.add(Classification(dataset_id=ds.id, name="preference", title="Preference", type="pairwise"))
        session.commit()
        return {"ann": ann, "bob": bob, "rev": rev, "dataset": ds}


def start_shell_app(
    tmp,
    *,
    items: int = 5,
    role: str = "annotator",
    user: str = "ann",
    database_url: str | None = None,
    seed_data: bool = True,
):  # type: ignore[no-untyped-def]
    """`streamlit run tests/toolpage_app.py` on a free port with its own seeded DB (an AppServer)."""
    import os
    import subprocess
    import sys

    from store.db import make_engine, upgrade
    from tests.conftest import ROOT, AppServer, free_port, wait_http

    database_url = database_url or f"sqlite:///{tmp}/parley.db"
    data = None
    if seed_data:
        upgrade(database_url)
        engine = make_engine(database_url)
        data = seed(engine, blobs=str(tmp / "blobs"), items=items, role=role)
        engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PARLEY_BLOBS": str(tmp / "blobs"),
        "PYTHONPATH": str(ROOT),
        "PARLEY_TEST_USER": user,
        "PARLEY_TEST_DATA_URI": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp / f"shell-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "tests/shellapp/toolpage_app.py", "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}", "--server.fileWatcherType=none",
         "--browser.gatherUsageStats=false"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = AppServer(url=f"http://127.0.0.1:{port}", database_url=database_url, blobs=str(tmp / "blobs"),
                       env=env, proc=proc, log=log)  # fmt: skip
    try:
        wait_http(server.url + "/_stcore/health", timeout=60, proc=proc)
    except Exception:
        server.stop()
        raise RuntimeError(f"streamlit did not start:\n{server.output()[-3000:]}") from None
    server.data = data  # type: ignore[attr-defined]
    return server
