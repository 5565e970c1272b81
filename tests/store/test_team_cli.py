"""`python -m store datasets configure`, `history` and the export's --status accepted / --final: exit 0 and
what they print; bad input exits 2 with one line on stderr and writes nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from store.cli.history import change_summary
from store.db import make_engine, upgrade
from store.models import AuditEvent, Dataset
from store.team.settings import team_settings
from tests.store.test_team_export import team_dataset
from tests.utils import cli_env, store_cli

Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def db_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        team_dataset(session)
    engine.dispose()
    return url


@pytest.fixture
def cli(db_url, tmp_path) -> Run:
    env = {**cli_env(tmp_path), "DATABASE_URL": db_url}
    return lambda *args: store_cli(env, *args)


def state(url: str) -> tuple[dict | None, int]:
    """The dataset's settings and how many audit rows there are."""
    engine = make_engine(url)
    with Session(engine) as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == "team")).one()
        events = session.exec(select(func.count(AuditEvent.id))).one()
        found = (dataset.settings, int(events))
    engine.dispose()
    return found


def test_configure_sets_and_prints_the_settings(cli, db_url):
    done = cli("datasets", "configure", "team", "--overlap", "3", "--review", "sample:20",
               "--reject-reasons", "Off topic; Wrong label;;Too short")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "configured team",
        "overlap: 3",
        "review: sample:20",
        "reject reasons: Off topic; Wrong label; Too short",
    ]
    engine = make_engine(db_url)
    with Session(engine) as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == "team")).one()
        settings = team_settings(dataset)
        assert (settings.overlap, settings.review, settings.sample) == (3, "sample", 20.0)
        assert settings.reject_reasons == ("Off topic", "Wrong label", "Too short")
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "dataset.team").order_by(AuditEvent.id.desc())
        ).first()
        assert event.user_id is None and event.detail["overlap"] == "3"
    engine.dispose()
    done = cli("datasets", "configure", "team", "--overlap", "all", "--review", "off")
    assert done.returncode == 0, done.stderr
    assert "overlap: all" in done.stdout and "review: off" in done.stdout
    assert "Off topic; Wrong label; Too short" in done.stdout  # left as it was
    before = state(db_url)
    shown = cli("datasets", "configure", "team")  # nothing to change: prints, writes nothing
    assert shown.returncode == 0 and shown.stdout.startswith("settings of team\noverlap: all\n")
    assert state(db_url) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nope", "--overlap", "2"], "dataset 'nope': not found"),
        (["team", "--overlap", "0"], "overlap 0"),
        (["team", "--overlap", "two"], "overlap 'two'"),
        (["team", "--review", "sometimes"], "review 'sometimes'"),
        (["team", "--review", "sample:150", "--overlap", "2"], "review 'sample:150'"),
        (["team", "--reject-reasons", "x" * 201], "reject reasons"),
    ],
)
def test_configure_bad_input_exits_2_and_writes_nothing(cli, db_url, args, words):
    before = state(db_url)
    done = cli("datasets", "configure", *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
    assert done.stdout == ""
    assert state(db_url) == before


def test_history_prints_each_entry(cli):
    done = cli("history", "team", "i1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    labels = [
        "lease taken",
        "submitted",
        "lease taken",
        "submitted",
        "fixed and accepted",
        "accepted",
        "finalised",
    ]
    assert len(lines) == len(labels)
    for line, label in zip(lines, labels, strict=True):
        time, action = line.split("  ")[:2]
        assert action == label and time.endswith("Z") and len(time) == 20, line
    assert "by alice  annotator alice" in lines[1] and "results: 1, classifications: 1" in lines[1]
    fix = lines[4]
    assert "by rv  annotator alice" in fix and "reason: score too low" in fix
    assert "results changed, classifications changed" in fix
    assert "by rv  annotator bob" in lines[5] and "by rv  annotator rv" in lines[6]
    rejected = cli("history", "team", "i0").stdout.splitlines()
    assert any(
        "rejected  by rv  annotator bob" in line and "reason: Wrong label" in line for line in rejected
    )
    quiet = cli("history", "team", "i3")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "no history for item i3 of team"


@pytest.mark.parametrize(
    ("args", "words"), [(["nope", "i1"], "dataset 'nope'"), (["team", "i9"], "item 'i9': not found")]
)
def test_history_of_unknown_dataset_or_item_exits_2(cli, args, words):
    done = cli("history", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr


def test_export_status_accepted_and_final(cli, tmp_path):
    done = cli("export", "team", "--format", "dpo", "--out", str(tmp_path / "f.jsonl"), "--final")
    assert done.returncode == 0, done.stderr
    assert "exported 6 dpo records from 2 items (2 annotations" in done.stdout
    done = cli(
        "export", "team", "--format", "dpo", "--out", str(tmp_path / "a.jsonl"), "--status", "accepted"
    )
    assert done.returncode == 0, done.stderr
    assert "exported 9 dpo records from 2 items (3 annotations" in done.stdout
    bad = cli("export", "team", "--format", "dpo", "--out", str(tmp_path / "b.jsonl"), "--status", "reviewed")
    assert bad.returncode == 2 and "status 'reviewed'" in bad.stderr
    assert not (tmp_path / "b.jsonl").exists()


def test_change_summary():
    one = {
        "validity": "valid",
        "classifications": {"1": [0, 1]},
        "results": [{"class_id": 1, "candidate": 0}],
    }
    two = {**one, "results": [*one["results"], {"class_id": 1, "candidate": 1}]}
    assert change_summary(None, one) == "results: 1, classifications: 1"
    assert change_summary(one, two) == "results: 1 → 2"
    assert change_summary(one, {**one, "validity": "invalid"}) == "validity: valid → invalid"
    assert change_summary(one, one) == "no change in the work"
    assert change_summary(one, None) == ""
