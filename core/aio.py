"""Running a coroutine to its end from synchronous code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


def run_in_own_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, or the same in a thread of its own when this thread already runs an event loop (a
    caller inside async code, or a test process holding Playwright's sync API: asyncio.run would refuse).
    Returns the coroutine's result; its exception is raised again in the caller's thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
            failure.append(exc)

    thread = threading.Thread(target=target, name="own-loop")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
