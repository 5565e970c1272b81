"""`python -m store ontology import|export`: the DESIGN.md example loads; a broken file exits 2, changes nothing."""

import json

import pytest

from tests.unit.test_ontology import EXAMPLE
from tests.utils import cli_env, store_cli


@pytest.fixture
def cli(tmp_path):
    env = cli_env(tmp_path)

    def run(*args):
        return store_cli(env, *args)

    assert run("datasets", "create", "d1").returncode == 0
    return run


def test_import_example_then_export(cli, tmp_path):
    src = tmp_path / "onto.json"
    src.write_text(json.dumps(EXAMPLE))
    done = cli("ontology", "import", "d1", str(src))
    assert done.returncode == 0, done.stderr
    assert "2 classes created" in done.stdout and "3 classifications created" in done.stdout
    # No items yet, so the ranking and pairwise questions are warned about (not refused).
    assert "a ranking needs candidate replies" in done.stderr
    out = tmp_path / "out.json"
    assert cli("ontology", "export", "d1", "--out", str(out)).returncode == 0
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["classes"]] == ["helpfulness", "ideal_reply"]
    assert data["classes"][1]["max_chars"] == 2000 and data["guidelines"] == EXAMPLE["guidelines"]


def test_broken_file_exits_2_and_changes_nothing(cli, tmp_path):
    src = tmp_path / "onto.json"
    src.write_text(json.dumps(EXAMPLE))
    assert cli("ontology", "import", "d1", str(src)).returncode == 0
    before = cli("ontology", "export", "d1").stdout
    bad = json.loads(json.dumps(EXAMPLE))
    bad["classes"][0]["attributes"][0]["options"] = ["1", "1"]
    bad["classes"].append({"name": "new_class", "tool": "dialog_evaluation"})
    src.write_text(json.dumps(bad))
    done = cli("ontology", "import", "d1", str(src))
    assert done.returncode == 2
    assert (
        "class 'helpfulness', field attributes[0] (score).options[1]: option '1' appears twice" in done.stderr
    )
    assert cli("ontology", "export", "d1").stdout == before
    src.write_text("{not json")
    done = cli("ontology", "import", "d1", str(src))
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    assert cli("ontology", "import", "nope", str(src)).returncode == 2
