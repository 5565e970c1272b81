"""`models add|list|remove`, `generate DATASET --model NAME…` and `judge DATASET --model NAME`: OpenAI-compatible
endpoints and the jobs that use them, as the operator admin. generate/judge exit 0 when every item got its
answer, 1 when some failed (named on stderr), 2 on bad input."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from store import db
from store.cli.operator import cli_admin
from store.datasets import get_dataset
from store.errors import InputError
from store.llm.endpoints import add_model, get_model, list_models, remove_model
from store.llm.jobs import check_items, fraction, parse_ids, rate, start_job
from store.models import GenerationJob


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="OpenAI-compatible model endpoints: add, list, remove")
    msub = p.add_subparsers(dest="models_command", required=True, parser_class=type(p))
    add = msub.add_parser("add", help="add an endpoint (the key stays in an environment variable)")
    add.add_argument("name", help="the name candidates carry (their `model` in the native export)")
    add.add_argument(
        "--base-url", required=True, help="e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1"
    )
    add.add_argument("--model", required=True, help="the model id the server knows")
    add.add_argument("--api-key-env", default="", help="NAME of the environment variable holding the key")
    add.add_argument("--temperature", type=float, default=None)
    add.add_argument("--max-tokens", type=int, default=None)
    add.add_argument("--system", default="", help="a system prompt sent first")
    add.add_argument("--concurrency", type=int, default=4, help="requests at once (default 4)")
    add.add_argument("--vision", action="store_true", help="send the dialogue's images (as data URLs)")
    add.set_defaults(func=_add)
    ls = msub.add_parser("list", help="the endpoints (never a key)")
    ls.set_defaults(func=_list)
    rm = msub.add_parser("remove", help="remove an endpoint (candidates it made stay)")
    rm.add_argument("name")
    rm.set_defaults(func=_remove)

    for name, helptext in (
        ("generate", "each model answers each item: candidates named after the model (fills gaps only)"),
        ("judge", "a model judges each item against the ontology: its answers become suggestions"),
    ):
        g = sub.add_parser(name, help=helptext)
        g.add_argument("dataset")
        g.add_argument("--model", action="append", required=True, help="a model's name" +
                       (" (repeatable)" if name == "generate" else ""))  # fmt: skip
        g.add_argument("--limit", type=int, default=None, help="the first N items only")
        g.add_argument("--items", default=None, help="item ids, comma-separated")
        if name == "judge":
            g.add_argument(
                "--prompt-file", default=None, help="the judge's prompt template (default: built in)"
            )
        g.set_defaults(func=_job, kind=name)


def _add(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.write_session() as session:
        row = add_model(
            session=session, user=cli_admin(), name=args.name, base_url=args.base_url, model=args.model,
            api_key_env=args.api_key_env, temperature=args.temperature, max_tokens=args.max_tokens,
            system=args.system, concurrency=args.concurrency, vision=args.vision,
        )  # fmt: skip
        print(f"added model {row.name} ({row.model} at {row.base_url})")
    return 0


def _list(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.read_session() as session:
        rows = list_models(session=session)
    if not rows:
        print("no models yet: python -m store models add NAME --base-url URL --model ID")
    for r in rows:
        key = f"key from ${r.api_key_env}" if r.api_key_env else "no key"
        extra = "".join(
            f", {label} {value}"
            for label, value in (("temperature", r.temperature), ("max tokens", r.max_tokens))
            if value is not None
        )
        print(f"{r.name}\t{r.model} at {r.base_url}\t{key}, concurrency {r.concurrency}{extra}"
              + (", vision" if r.vision else ""))  # fmt: skip
    return 0


def _remove(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.write_session() as session:
        remove_model(session=session, user=cli_admin(), name=args.name)
    print(f"removed model {args.name}")
    return 0


def _progress(job: GenerationJob) -> None:
    if sys.stderr.isatty():
        print(f"\r{fraction(job):6.1%} {job.done} done, {job.skipped} skipped, {job.failed} failed, "
              f"{rate(job):.1f}/s, {job.tokens} tokens", end="", file=sys.stderr, flush=True)  # fmt: skip


def _job(args: argparse.Namespace) -> int:
    # The openai package loads only for these commands (~0.5 s that every other command would pay).
    from store.llm import calls
    from store.llm.runner import run_job

    items = parse_ids(args.items)
    prompt = None
    if getattr(args, "prompt_file", None):
        try:
            prompt = Path(args.prompt_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--prompt-file {args.prompt_file}: {exc.strerror}") from None
    db.upgrade()
    # Everything checked before the job is written: the dataset, the items, the models and their keys.
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        if items is not None:
            check_items(session=session, dataset_id=dataset.id, ids=items)
        for name in args.model:
            calls.api_key(get_model(session=session, name=name))
    with db.write_session() as session:
        job = start_job(
            session=session, user=cli_admin(), dataset_id=dataset.id, kind=args.kind, models=args.model,
            items=items, limit=args.limit, prompt=prompt,
        )  # fmt: skip
    began = time.monotonic()
    job = run_job(engine=db.get_engine(), job_id=job.id, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    what = "replies" if args.kind == "generate" else "judgements"
    print(
        f"job {job.id} {job.status}: {job.done} {what} written, {job.skipped} already there, {job.failed} failed "
        f"of {job.total} in {time.monotonic() - began:.1f} s ({rate(job):.1f}/s, {job.tokens} tokens)"
    )
    for error in job.errors or []:
        where = f"item {error['item']} · {error['model']}: " if error.get("item") is not None else ""
        print(f"failed: {where}{error['message']}", file=sys.stderr)
    return 0 if job.status == "done" and job.failed == 0 else 1
