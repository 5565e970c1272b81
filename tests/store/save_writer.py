"""The writer process of tests/store/test_crash_saves.py: one thread per annotator saving its item without a
pause, through the store functions the pages call, until it is killed.

    python -m tests.store.save_writer DATABASE_URL FIRST_GEN USER:ITEM_ID [USER:ITEM_ID …]

Generation g (from FIRST_GEN on) is a save_annotation when g is even, a save_draft when odd; every result
and the classifications of a generation's work carry g. After each commit returns: "ack USER KIND G VERSION"
on stdout (flushed), so what was acknowledged is known when the process dies.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from sqlmodel import select

from store import db
from store.annotations import load_work, save_annotation, save_draft
from store.models import OntologyClass, User

MESSAGES = (1, 3, 5, 7, 9, 11)  # the bot turns of the test's item: one result on each


def work_of(gen: int, class_id: int) -> dict[str, Any]:
    return {
        "validity": "valid",
        "invalid_reason": "",
        "classifications": {"gen": gen},
        "results": [
            {"class_id": class_id, "message": m, "values": {"gen": gen, "note": f"generation {gen} " * 20}}
            for m in MESSAGES
        ],
    }


def main(url: str, first: int, pairs: list[str]) -> None:
    engine = db.get_engine(url)
    out = threading.Lock()
    with db.read_session(engine) as session:
        class_id = session.exec(select(OntologyClass.id)).first()

    def annotate(username: str, item_id: int) -> None:
        with db.read_session(engine) as session:
            user = session.exec(select(User).where(User.username == username)).one()
            version = load_work(session=session, user=user, item_id=item_id).version
        gen = first
        while True:
            save = gen % 2 == 0
            with db.write_session(engine) as session:
                fn = save_annotation if save else save_draft
                version = fn(
                    session=session, user=user, item_id=item_id, work=work_of(gen, class_id), version=version
                )
            with out:
                print(f"ack {username} {'save' if save else 'draft'} {gen} {version}", flush=True)
            gen += 1

    threads = []
    for pair in pairs:
        username, item_id = pair.split(":")
        threads.append(threading.Thread(target=annotate, args=(username, int(item_id)), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
