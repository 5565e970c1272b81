"""Demo content: loaded once on a new embedded install, valid ontology, images stored as assets."""

from sqlmodel import select

from core.ontology import errors, validate_ontology
from store.blobs import LocalBlobStore
from store.demo import load_demo, load_demo_if_new
from store.items import dataset_stats
from store.models import Asset, Dataset, Item
from store.ontology import export_ontology
from tests.utils import found, make_user


def test_demo_dataset_has_dialogues_images_and_a_valid_ontology(session, tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    dataset = load_demo(session=session, blobs=blobs)
    session.commit()
    items = session.exec(select(Item).where(Item.dataset_id == dataset.id).order_by(Item.position)).all()
    assert len(items) == 12
    assert [i.position for i in items] == list(range(12))
    assert any(len(i.messages) >= 4 for i in items), "some dialogues are multi-turn"
    assert {len(i.candidates) for i in items} >= {0, 2, 3}
    assert all(found(session, dataset.id, i.messages[0]["text"]) for i in items if i.messages[0].get("text"))
    image_ids = [img for i in items for m in i.messages for img in m["images"]]
    assert len(image_ids) == 2
    for asset_id in image_ids:
        asset = session.get(Asset, asset_id)
        assert asset.mime == "image/png" and asset.width > 100 and asset.height > 100
        assert blobs.get(asset_id)[:8] == b"\x89PNG\r\n\x1a\n"
    admin = make_user(session, "boss", role="admin")
    (stats,) = dataset_stats(session=session, user=admin)  # the Datasets table
    assert (stats.items, stats.images) == (12, 2)
    ontology = export_ontology(session=session, dataset_id=dataset.id)
    assert errors(validate_ontology(ontology, has_candidates=True)) == []
    names = {c["name"]: c for c in ontology["classes"]}
    assert names["helpfulness"]["attributes"][0] == {
        "name": "score",
        "type": "radio",
        "required": True,
        "options": ["1", "2", "3", "4", "5"],
    }
    assert names["ideal_reply"]["min_chars"] == 10 and names["ideal_reply"]["max_chars"] == 2000
    assert {q["name"]: q["type"] for q in ontology["classifications"]} == {
        "preference": "pairwise",
        "ranking": "ranking",
    }


def test_demo_loads_only_on_a_new_sqlite_install(sqlite_engine, tmp_path):
    blobs = LocalBlobStore(tmp_path / "blobs")
    assert load_demo_if_new(sqlite_engine, blobs) is True
    assert load_demo_if_new(sqlite_engine, blobs) is False
    from sqlmodel import Session

    with Session(sqlite_engine) as session:
        assert [d.name for d in session.exec(select(Dataset)).all()] == ["Demo"]


def test_demo_is_not_loaded_on_postgres(pg_server, tmp_path):
    from store.db import make_engine

    engine = make_engine(pg_server.new_database())
    assert load_demo_if_new(engine, LocalBlobStore(tmp_path / "blobs")) is False
    engine.dispose()
