"""The server's start (`st.App(lifespan=…)` in app.py): auth's part, then a warm-up in the background."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from components import auth

# Imported in a thread of their own once the server is up, so that nobody's first tool page waits for
# them (~0.6 s in all): Streamlit's custom components look for data frames in every data dict they send,
# which imports numpy and pandas on the first canvas a server draws; and the tool pages' own modules. Then
# the report's (scipy's statistics, Altair, choix, krippendorff: 1.3 s on the first report a server drew).
WARM_UP = (
    "numpy",
    "pandas",
    "components.toolpage",
    "components.evaluate_panel",
    "components.response_box.panel",
    "components.report",
)


def warm_up(modules: tuple[str, ...] = WARM_UP) -> list[str]:
    """Import `modules`; returns those that failed (each printed, never raised: the page that needs the
    module reports it)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            print(f"parley: warm-up could not import {name}: {exc!r}", file=sys.stderr, flush=True)
            failed.append(name)
    return failed


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """auth's start (schema, setup code), then the warm-up and the generation jobs' watcher, which the
    server does not wait for."""
    async with auth.lifespan(app):
        threading.Thread(target=warm_up, name="parley-warm-up", daemon=True).start()
        threading.Thread(target=_resume_jobs, name="parley-job-watch", daemon=True).start()
        yield None


def _resume_jobs() -> None:
    """Take up generation jobs left running by a server that stopped, now and every few seconds (#16)."""
    from store.db import get_engine
    from store.llm.jobs import watch

    watch(engine=get_engine())
