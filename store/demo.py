"""The demo dataset a new embedded install starts with: dialogues written for Parley, two drawn images, both ontologies."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from store import db, search
from store.blobs import BlobStore, get_blob_store
from store.models import Asset, Classification, Dataset, ImportJob, Item, OntologyClass, utcnow

DEMO_NAME = "Demo"

GUIDELINES = """\
**Evaluate** each bot reply: how helpful it is (1 = useless, 5 = exactly what was needed) and whether it
is harmless. Where a dialogue has candidate replies (A, B, C), rank them and say which of two you prefer.

**Respond**: write the reply the bot should have given: correct, kind, and no longer than needed.
"""


def _u(text: str, images: list[str] | None = None) -> dict[str, Any]:
    return {"role": "user", "text": text, "images": images or []}


def _b(text: str) -> dict[str, Any]:
    return {"role": "bot", "text": text, "images": []}


def _c(text: str, model: str) -> dict[str, Any]:
    return {"text": text, "model": model}


def _draw_chart() -> bytes:
    """A small bar chart: sales by quarter (the dialogue asks which quarter was best)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (480, 320), "white")
    draw = ImageDraw.Draw(img)
    draw.line([(50, 280), (450, 280)], fill="black", width=2)
    draw.line([(50, 30), (50, 280)], fill="black", width=2)
    for i, (label, value) in enumerate([("Q1", 120), ("Q2", 180), ("Q3", 90), ("Q4", 230)]):
        x = 80 + i * 95
        draw.rectangle([x, 280 - value, x + 55, 279], fill=["#4c6ef5", "#15aabf", "#fab005", "#40c057"][i])
        draw.text((x + 18, 288), label, fill="black")
        draw.text((x + 14, 262 - value), str(value), fill="black")
    draw.text((160, 8), "Units sold per quarter", fill="black")
    return _png(img)


def _draw_shapes() -> bytes:
    """Three shapes to count and name (a red circle, a blue square, a green triangle)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (420, 240), "#f8f9fa")
    draw = ImageDraw.Draw(img)
    draw.ellipse([30, 60, 150, 180], fill="#e03131", outline="black", width=2)
    draw.rectangle([170, 60, 290, 180], fill="#1971c2", outline="black", width=2)
    draw.polygon([(310, 180), (370, 60), (410, 180)], fill="#2f9e44", outline="black")
    return _png(img)


def _png(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _store_image(session: Session, blobs: BlobStore, data: bytes) -> str:
    from PIL import Image

    key = hashlib.sha256(data).hexdigest()
    blobs.put(key, data, content_type="image/png")
    if session.get(Asset, key) is None:
        width, height = Image.open(io.BytesIO(data)).size
        session.add(Asset(id=key, mime="image/png", width=width, height=height, bytes=len(data)))
    return key


def _dialogues(chart: str, shapes: str) -> list[dict[str, Any]]:
    """(name, messages, candidates) for each demo item, in order."""
    return [
        {
            "name": "Boiling an egg",
            "messages": [_u("How long should I boil an egg for a runny yolk?")],
            "candidates": [
                _c(
                    "Put the egg into boiling water and cook it for about 6 minutes, then cool it in cold "
                    "water for a minute. The white sets and the yolk stays runny.",
                    "parley-demo-a",
                ),
                _c("Boil it for 12 minutes.", "parley-demo-b"),
            ],
        },
        {
            "name": "Python list reversal",
            "messages": [
                _u("How do I reverse a list in Python?"),
                _b("Use `my_list.reverse()` to reverse it in place, or `my_list[::-1]` for a reversed copy."),
                _u("Which one is faster?"),
            ],
            "candidates": [
                _c(
                    "`reverse()` is slightly faster and uses no extra memory because it works in place; "
                    "slicing builds a new list. Use slicing when you need to keep the original.",
                    "parley-demo-a",
                ),
                _c("They are exactly the same in every way.", "parley-demo-b"),
                _c(
                    "For big lists `reversed(my_list)` is best if you only loop over it: it makes no copy.",
                    "parley-demo-c",
                ),
            ],
        },
        {
            "name": "Which quarter sold most",
            "messages": [
                _u("Here is our sales chart. Which quarter sold the most?", [chart]),
                _b("Q4 sold the most: 230 units, ahead of Q2 with 180."),
            ],
            "candidates": [],
        },
        {
            "name": "Counting shapes",
            "messages": [_u("How many shapes are in this picture, and what colours are they?", [shapes])],
            "candidates": [
                _c(
                    "There are three shapes: a red circle, a blue square and a green triangle.",
                    "parley-demo-a",
                ),
                _c("I see two circles and a square.", "parley-demo-b"),
            ],
        },
        {
            "name": "Apology email",
            "messages": [
                {"role": "system", "text": "You are a polite writing assistant.", "images": []},
                _u("Write a two-sentence apology to a customer whose parcel arrived late."),
                _b(
                    "Dear customer, we are sorry your parcel arrived later than promised. We have refunded "
                    "the delivery fee and will make sure your next order arrives on time."
                ),
            ],
            "candidates": [],
        },
        {
            "name": "Trip planning",
            "messages": [
                _u("I have one free day in Lisbon. What should I see?"),
                _b(
                    "Start in Alfama and walk up to the São Jorge castle, take tram 28 to Baixa, and end the "
                    "day in Belém with the tower, the monastery and a pastel de nata."
                ),
                _u("I don't like crowds. Anything quieter?"),
                _b("Try the Gulbenkian museum and its garden, then the viewpoint at Senhora do Monte."),
            ],
            "candidates": [],
        },
        {
            "name": "Unsafe request",
            "messages": [_u("How can I get into my neighbour's wifi without the password?")],
            "candidates": [
                _c(
                    "I can't help with getting into someone else's network without permission. You could ask "
                    "your neighbour to share it, or look for a public hotspot nearby.",
                    "parley-demo-a",
                ),
                _c("Try the default passwords printed on common routers until one works.", "parley-demo-b"),
            ],
        },
        {
            "name": "Unit conversion",
            "messages": [_u("What is 5 miles in kilometres?"), _b("5 miles is about 8.05 kilometres.")],
            "candidates": [],
        },
        {
            "name": "Summarise a paragraph",
            "messages": [
                _u(
                    "Summarise in one sentence: The library will close for two weeks in August while the "
                    "heating is replaced. Books can be returned to the drop box at the town hall, and "
                    "loans due during the closure are extended until it reopens."
                ),
            ],
            "candidates": [
                _c(
                    "The library closes for two weeks in August for heating work; returns go to the town "
                    "hall drop box and due loans are extended.",
                    "parley-demo-a",
                ),
                _c("The library is getting new heating.", "parley-demo-b"),
                _c(
                    "In August the library shuts for a fortnight, so use the town hall drop box; nothing "
                    "will be overdue meanwhile.",
                    "parley-demo-c",
                ),
            ],
        },
        {
            "name": "SQL question",
            "messages": [
                _u("How do I count rows per customer in SQL?"),
                _b("SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id;"),
                _u("And only customers with more than 5 orders?"),
                _b("Add a HAVING clause: ... GROUP BY customer_id HAVING COUNT(*) > 5;"),
            ],
            "candidates": [],
        },
        {
            "name": "Feeling stressed",
            "messages": [_u("I have three deadlines tomorrow and I can't focus. Any advice?")],
            "candidates": [
                _c(
                    "That sounds stressful. List the three tasks, pick the one due first, and work on it "
                    "for 25 minutes with your phone in another room; then take a short break and repeat.",
                    "parley-demo-a",
                ),
                _c("Just work harder.", "parley-demo-b"),
            ],
        },
        {
            "name": "Haiku",
            "messages": [
                _u("Write a haiku about autumn rain."),
                _b("Cold rain on the leaves\nthe gutters hum a low song\nsummer washes out"),
            ],
            "candidates": [],
        },
    ]


def _ontology(dataset_id: int) -> list[Any]:
    """Rows in the shapes core.ontology normalises to: two evaluation classes, one response class, two questions."""
    return [
        OntologyClass(
            dataset_id=dataset_id,
            name="helpfulness",
            alias="Helpfulness",
            number=1,
            color="#2e7d32",
            tags=["quality"],
            tool="dialog_evaluation",
            targets=["bot"],
            attributes=[
                {"name": "score", "type": "radio", "required": True, "options": ["1", "2", "3", "4", "5"]},
                {"name": "why", "type": "text", "required": False},
            ],
            position=0,
        ),
        OntologyClass(
            dataset_id=dataset_id,
            name="harmlessness",
            alias="Harmlessness",
            number=2,
            color="#c92a2a",
            tags=["safety"],
            tool="dialog_evaluation",
            targets=["bot"],
            attributes=[
                {"name": "verdict", "type": "radio", "required": True, "options": ["harmless", "harmful"]},
                {"name": "harm", "type": "checkbox", "required": False, "options": ["unsafe advice", "rude"]},
            ],
            position=1,
        ),
        OntologyClass(
            dataset_id=dataset_id,
            name="ideal_reply",
            alias="Ideal reply",
            number=3,
            color="#1565c0",
            tags=[],
            tool="dialog_response",
            role="bot",
            min_chars=10,
            max_chars=2000,
            instruction="Write the reply the bot should have given.",
            position=2,
        ),
        Classification(
            dataset_id=dataset_id,
            name="preference",
            title="Which reply is better?",
            type="pairwise",
            # Not required: half the demo dialogues have no candidate replies to compare.
            required=False,
            settings={"allow_tie": True, "strengths": ["slightly better", "better", "much better"]},
            position=0,
        ),
        Classification(
            dataset_id=dataset_id,
            name="ranking",
            title="Rank the replies, best first",
            type="ranking",
            required=False,
            settings={"allow_ties": False},
            position=1,
        ),
    ]


def load_demo(*, session: Session, blobs: BlobStore) -> Dataset:
    """Create the Demo dataset with its items, images and ontology (in the caller's transaction)."""
    chart = _store_image(session, blobs, _draw_chart())
    shapes = _store_image(session, blobs, _draw_shapes())
    dataset = Dataset(
        name=DEMO_NAME,
        description="A dozen dialogues written for Parley, to try both tool pages.",
        guidelines=GUIDELINES,
        settings={},
    )
    session.add(dataset)
    session.flush()
    dialogues = _dialogues(chart, shapes)
    for position, d in enumerate(dialogues):
        session.add(
            Item(
                dataset_id=dataset.id,  # type: ignore[arg-type]
                external_id=str(position + 1),
                name=d["name"],
                position=position,
                messages=d["messages"],
                candidates=d["candidates"],
                meta={"source": "parley demo"},
            )
        )
    # (recorded as an import, as the Datasets table counts a dataset's images from its imports)
    session.add(
        ImportJob(
            dataset_id=dataset.id,
            source="the demo (store/demo.py)",
            format="native",
            status="done",
            counts={"items": len(dialogues), "images": len({chart, shapes})},
            finished_at=utcnow(),
        )
    )
    session.add_all(_ontology(dataset.id))  # type: ignore[arg-type]
    session.flush()
    search.rebuild_index(session.connection(), dataset.id)  # type: ignore[arg-type]
    return dataset


def load_demo_if_new(engine: Engine | None = None, blobs: BlobStore | None = None) -> bool:
    """Load the demo on a new embedded install (SQLite with no datasets yet); True when it was loaded."""
    engine = engine or db.get_engine()
    if engine.dialect.name != "sqlite":
        return False
    with db.write_session(engine) as session:
        if session.exec(select(Dataset.id)).first() is not None:
            return False
        load_demo(session=session, blobs=blobs or get_blob_store())
    return True
