"""The world the authorization matrix (tests/authz_matrix.py) speaks of, built through the store's own functions
where they exist: a restricted dataset with members, an open dataset, submitted work, drafts, a comment,
an ontology, images, and a session token for every role."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

from PIL import Image
from sqlalchemy import insert
from sqlmodel import Session, select

from store.annotations import load_work, save_annotation
from store.comments import add_comment
from store.datasets import create_dataset, set_dataset_members
from store.models import (
    Annotation,
    Asset,
    Classification,
    GenerationJob,
    Item,
    ModelEndpoint,
    OntologyClass,
    User,
)
from store.ontology import delete_class, import_ontology
from store.sessions import create_session
from store.team.settings import configure_dataset
from store.users import set_active
from tests.authz_matrix import CANARY, ROLES, R

OPEN = "Open"
MODEL = "m1"
# Who plays each role (tests/authz_matrix.ROLES); alice is a member annotator too, the author of x1's work.
PLAYERS = {
    "deactivated": ("dora", "annotator"),
    "annotator, not member": ("oscar", "annotator"),
    "annotator member": ("bob", "annotator"),
    "reviewer, not member": ("rob", "reviewer"),
    "reviewer member": ("rita", "reviewer"),
    "admin": ("admin", "admin"),
}
MEMBERS = ["alice", "bob", "dora", "rita"]
ONTOLOGY = {
    "classes": [
        {"name": "helpfulness", "alias": "Helpfulness", "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3"]}]},
        {"name": "old", "alias": "Old", "tool": "dialog_evaluation", "targets": ["bot"], "attributes": []},
    ],
    "classifications": [
        {"name": "topic", "type": "radio", "options": ["yes", "no"]},
        {"name": "tone", "type": "text"},
    ],
}  # fmt: skip


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(out, format="PNG")
    return out.getvalue()


@dataclass
class World:
    r: int  # the restricted dataset's id
    open: int
    x1: int  # R's item the members submitted
    x2: int  # R's untouched item
    users: dict[str, int]  # username → id
    tokens: dict[str, str | None]  # role → session cookie value (None: signed out)
    annotation: int  # alice's submitted annotation on x1
    version: int
    comment: int  # alice's comment on x1
    cls: int  # R's class "helpfulness"
    old_cls: int  # R's deleted class "old"
    question: int  # R's classification "topic"
    work: dict = field(default_factory=dict)  # a valid answer in R's ontology
    images: dict[str, str] = field(default_factory=dict)  # dataset name → sha256 of its item's image
    job: int = 0  # a cancelled generation job on R


def _user(session: Session, username: str, role: str) -> User:
    """A user without a password (hashing one costs ~50 ms; the matrix signs in with session tokens)."""
    user = User(username=username, display_name=username, role=role)
    session.add(user)
    session.flush()
    return user


def _items(session: Session, dataset_id: int, texts: list[tuple[str, str]], image: str) -> None:
    session.execute(
        insert(Item),
        [
            {"dataset_id": dataset_id, "external_id": ext, "name": ext, "position": i,
             "messages": [{"role": "user", "text": text, "images": [image]}, {"role": "bot", "text": "Sure."}],
             "candidates": [], "meta": {}}
            for i, (ext, text) in enumerate(texts, start=1)
        ],
    )  # fmt: skip


def build(session: Session, blobs=None) -> World:  # type: ignore[no-untyped-def]
    """Build the world and commit it; `blobs` (a BlobStore) also gets the two images' bytes."""
    users = {name: _user(session, name, role) for name, role in [*PLAYERS.values(), ("alice", "annotator")]}
    admin = users["admin"]
    images = {}
    for name, color in ((R, (200, 0, 0)), (OPEN, (0, 0, 200))):
        data = png(color)
        from hashlib import sha256

        sha = sha256(data).hexdigest()
        images[name] = sha
        session.add(Asset(id=sha, mime="image/png", width=4, height=4, bytes=len(data)))
        if blobs is not None:
            blobs.put(sha, data, content_type="image/png")
    r = create_dataset(session=session, name=R, created_by=admin.id)
    opened = create_dataset(session=session, name=OPEN, created_by=admin.id)
    _items(session, r.id, [("x1", f"{CANARY}: what is the capital of France?"), ("x2", "Second question")],
           images[R])  # fmt: skip
    _items(session, opened.id, [("o1", "An open question")], images[OPEN])
    session.commit()
    set_dataset_members(session=session, user=admin, dataset_id=r.id, usernames=MEMBERS, restricted=True)
    import_ontology(session=session, user=admin, dataset_id=r.id, data=json.loads(json.dumps(ONTOLOGY)))
    cls = session.exec(select(OntologyClass).where(OntologyClass.dataset_id == r.id)).all()
    old = next(c for c in cls if c.name == "old")
    delete_class(session=session, user=admin, class_id=old.id)
    question = session.exec(
        select(Classification).where(Classification.dataset_id == r.id, Classification.name == "topic")
    ).one()
    configure_dataset(session=session, user=admin, dataset_id=r.id, overlap=2, review="all")
    session.commit()
    work = {"validity": "valid", "invalid_reason": "", "classifications": {str(question.id): "yes"},
            "results": []}  # fmt: skip
    x1, x2 = session.exec(select(Item).where(Item.dataset_id == r.id).order_by(Item.position)).all()
    versions = {}
    for name in ("alice", "bob"):
        loaded = load_work(session=session, user=users[name], item_id=x1.id)
        versions[name] = save_annotation(
            session=session, user=users[name], item_id=x1.id, work=work, version=loaded.version, submit=True
        )
        session.commit()
    # Everyone else has a draft on x1 (the outsiders from when they were members), so /activity has
    # something to add to whoever asks, and only the check decides.
    for name in ("dora", "oscar", "rob", "rita", "admin"):
        session.add(
            Annotation(
                item_id=x1.id, dataset_id=r.id, annotator_id=users[name].id, status="draft", draft=work
            )
        )
    comment = add_comment(session=session, user=users["alice"], item_id=x1.id, text="Is Paris right?")
    # A model (nothing listens at its address: no test lets a call reach it) and a job it stopped on R.
    session.add(ModelEndpoint(name=MODEL, base_url="http://127.0.0.1:9/v1", model="m"))
    job = GenerationJob(dataset_id=r.id, kind="generate", models=[MODEL], status="cancelled", errors=[])
    session.add(job)
    session.commit()
    ann = session.exec(
        select(Annotation.id).where(Annotation.item_id == x1.id, Annotation.annotator_id == users["alice"].id)
    ).one()
    tokens: dict[str, str | None] = {"signed out": None}
    for role, (name, _kind) in PLAYERS.items():
        tokens[role] = create_session(session=session, user=users[name])
    session.commit()
    set_active(session=session, actor=admin, user_id=users["dora"].id, active=False)  # ends her sessions
    session.commit()
    assert set(tokens) == set(ROLES)
    return World(
        r=r.id, open=opened.id, x1=x1.id, x2=x2.id, users={n: u.id for n, u in users.items()}, tokens=tokens,
        annotation=ann, version=versions["alice"], comment=comment, cls=next(c.id for c in cls if c.name ==
        "helpfulness"), old_cls=old.id, question=question.id, work=work, images=images, job=job.id,
    )  # fmt: skip
