"""`python -m store report`: the HTML file (inline SVG charts, nothing external) and the JSON with the
documented keys; an unknown dataset or a bad option exits 2 with one line on stderr and writes nothing."""

from __future__ import annotations

import re

import orjson
import pytest

from tests.store.test_report import build
from tests.utils import cli_env, store_cli


@pytest.fixture
def cli(tmp_path):
    env = cli_env(tmp_path, build)
    return lambda *args: store_cli(env, "report", *args)


def test_json_has_the_documented_keys(cli, tmp_path):
    out = tmp_path / "out" / "report.json"
    done = cli("pilot", "--format", "json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote the json report of pilot" in done.stdout
    report = orjson.loads(out.read_bytes())
    assert {"progress", "agreement", "models", "annotators"} <= set(report)
    assert {"pairs", "leaderboard", "scores", "by", "judge"} <= set(report["models"])
    assert {"criterion", "level", "alpha", "ci", "items"} <= set(report["agreement"][0])
    assert {"a", "b", "wins", "ties", "losses"} <= set(report["models"]["pairs"][0])
    board = report["models"]["leaderboard"]
    assert [r["model"] for r in board] == ["X", "Y"]
    assert {"model", "strength", "ci", "comparisons"} <= set(board[0]) and len(board[0]["ci"]) == 2
    assert report["progress"]["final"] == 1


def test_filters_apply(cli, tmp_path):
    out = tmp_path / "bob.json"
    done = cli("pilot", "--format", "json", "--out", str(out), "--annotator", "bob", "--since", "2026-01-01",
               "--until", "2026-12-31")  # fmt: skip
    assert done.returncode == 0, done.stderr
    [pair] = orjson.loads(out.read_bytes())["models"]["pairs"]
    assert (pair["wins"], pair["ties"], pair["losses"]) == (1, 1, 1)


def test_html_is_self_contained_with_svg_charts(cli, tmp_path):
    out = tmp_path / "report.html"
    done = cli("pilot", "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "Pilot report: pilot" in text
    for section in ("progress", "agreement", "models", "annotators"):
        assert f'<section id="{section}">' in text
    assert text.count("<svg") >= 4 and "data-chart='leaderboard'" in text
    assert "<script" not in text and not re.search(r"(src|href)=[\"']?(https?:)?//", text)
    assert "@font-face" not in text and "<link" not in text


@pytest.mark.parametrize(
    "args",
    [
        ("nope", "--out", "{out}"),
        ("pilot", "--out", "{out}", "--status", "saved"),
        ("pilot", "--out", "{out}", "--format", "pdf"),
        ("pilot", "--out", "{out}", "--since", "yesterday"),
        ("pilot", "--out", "{out}", "--since", "2026-02-01", "--until", "2026-01-01"),
        ("pilot", "--out", "{out}", "--annotator", "nobody"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli, tmp_path, args):
    out = tmp_path / "out" / "report.html"
    done = cli(*(a.format(out=out) for a in args))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))
