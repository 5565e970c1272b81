"""`python -m store export`: writes the file and its manifest; bad input exits 2 with one line, no file."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from store.db import make_engine, upgrade
from tests.store.export_data import build
from tests.utils import ROOT, cli_env, store_cli


@pytest.fixture
def cli(tmp_path):
    env = cli_env(tmp_path, build)
    return lambda *args: store_cli(env, "export", *args)


def test_export_writes_file_and_manifest(cli, tmp_path):
    out = tmp_path / "out" / "dpo.jsonl"
    done = cli("handmade", "--format", "dpo", "--out", str(out), "--pairs", "best")
    assert done.returncode == 0, done.stderr
    assert "exported 7 dpo records" in done.stdout
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(records) == 7 and records[0]["meta"]["source"] == "ranking"
    manifest = orjson.loads((tmp_path / "out" / "dpo.jsonl.manifest.json").read_bytes())
    assert manifest["filters"]["pair_mode"] == "best" and manifest["counts"]["records"] == 7
    done = cli("handmade", "--format", "sft", "--out", str(tmp_path / "sft.zip"), "--status", "saved")
    assert done.returncode == 0, done.stderr
    assert "exported 2 sft records" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["handmade", "--format", "parquet"], "unknown"),
        (["nosuch", "--format", "dpo"], "not found"),
        (["handmade", "--format", "dpo", "--status", "finished"], "status"),
        (["handmade", "--format", "dpo", "--since", "yesterday"], "YYYY-MM-DD"),
        (
            ["handmade", "--format", "dpo", "--since", "2001-01-01", "--until", "2001-01-02"],
            "nothing to export",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_file(cli, tmp_path, args, message):
    out = tmp_path / "x.jsonl"
    done = cli(*args, "--out", str(out))
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "x.jsonl.manifest.json").exists()


def test_a_large_export_from_the_cli_is_the_same_file_as_one_process(tmp_path):
    """6,000 items: over PARALLEL_MIN_ITEMS, so `python -m store export` renders chunks in a worker process
    too; its file is the one-process export's, byte for byte."""
    import importlib.util

    import store.export_worker as export_worker
    from store.blobs import LocalBlobStore
    from store.db import read_session
    from store.export import write_export
    from store.models import Dataset

    spec = importlib.util.spec_from_file_location("bench_export", ROOT / "bench" / "export.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    url = f"sqlite:///{tmp_path}/big.db"
    upgrade(url)
    bench.generate(url, 6000)
    env = {**os.environ, "DATABASE_URL": url, "PARLEY_BLOBS": str(tmp_path / "blobs")}
    for fmt in ("dpo", "native"):
        out = tmp_path / f"cli.{fmt}.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "store", "export", "bench", "--format", fmt, "--out", str(out)],
            capture_output=True, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        engine = make_engine(url)
        with read_session(engine) as session:
            dataset = session.query(Dataset).filter_by(name="bench").one()
            one = tmp_path / f"one.{fmt}.jsonl"
            old = export_worker.WORKERS
            export_worker.WORKERS = 0
            try:
                summary = write_export(
                    session=session,
                    dataset=dataset,
                    fmt=fmt,
                    out=one,
                    blobs=LocalBlobStore(tmp_path / "blobs"),
                )
            finally:
                export_worker.WORKERS = old
            # The same call with the defaults (as the CLI and the Export page make it) uses the worker.
            two = tmp_path / f"two.{fmt}.jsonl"
            parallel = write_export(
                session=session, dataset=dataset, fmt=fmt, out=two, blobs=LocalBlobStore(tmp_path / "blobs")
            )
        engine.dispose()
        assert summary.worker_chunks == 0 and summary.counts["items"] == 6000
        assert parallel.worker_chunks >= 1 and parallel.counts == summary.counts
        assert out.read_bytes() == one.read_bytes() == two.read_bytes()
