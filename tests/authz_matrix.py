"""Who may do what (issue #17 item 5): one table, role × resource × action → allow / deny.

The world it speaks of: a dataset restricted to its members (alice and bob, annotators; rita, reviewer),
one open dataset, and an item "x1" of the restricted dataset that two members submitted. The roles are
seen from that dataset: "annotator, not member" (oscar) and "reviewer, not member" (rob) may see the open
dataset only; "deactivated" was a member whom an admin deactivated. Resources are page addresses (opened
in a real browser), the server's own routes, and every store function that takes a signed-in user and
reads or writes a dataset's data (called directly, on SQLite and PostgreSQL). "deny" means the user sees
the sign-in page or a refusal, gets 403/404, or the store raises Forbidden / NotFound; "allow" means the
page, the data or a successful call.

tests/store/test_authz_matrix.py and tests/browser/test_authz_matrix.py assert every cell;
`python -m tests.authz_matrix` prints the Markdown table that SECURITY.md carries (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = (
    "signed out",
    "deactivated",
    "annotator, not member",
    "annotator member",
    "reviewer, not member",
    "reviewer member",
    "admin",
)
A, D = "allow", "deny"
SIGNED_IN = (D, D, A, A, A, A, A)  # any active account
MEMBERS = (D, D, D, A, D, A, A)  # those who may see the restricted dataset
REVIEWERS = (D, D, D, D, A, A, A)  # reviewers and admins, before any dataset comes into it
MEMBER_REVIEWERS = (D, D, D, D, D, A, A)
ADMINS = (D, D, D, D, D, D, A)
# The author of a comment (alice) may resolve it; of the columns, only reviewers and admins may.
RESOLVERS = MEMBER_REVIEWERS

R = "Restricted-Q"  # the restricted dataset's name (unlike any word a page prints)
CANARY = "CANARY-x1"  # text of x1's first message: present on a page only when x1 is shown


@dataclass(frozen=True)
class Row:
    kind: str  # "page" | "route" | "store"
    resource: str
    action: str
    cells: tuple[str, ...]
    note: str = ""


def _page(path: str, open_: tuple[str, ...], data: tuple[str, ...] | None = None) -> list[Row]:
    rows = [Row("page", path, "open", open_)]
    if data is not None:
        rows.append(Row("page", path, f"see {R}'s data", data))
    return rows


PAGES = [
    *_page("/", SIGNED_IN, MEMBERS),
    *_page(f"/evaluate?dataset={R}&item=x1", SIGNED_IN, MEMBERS),
    *_page(f"/respond?dataset={R}&item=x1", SIGNED_IN, MEMBERS),
    *_page(f"/message?dataset={R}&item=x1&bubble=m0", SIGNED_IN, MEMBERS),
    *_page("/datasets", ADMINS),
    *_page("/ontology", ADMINS),
    *_page(f"/export?dataset={R}", REVIEWERS, MEMBER_REVIEWERS),
    *_page(f"/review?dataset={R}&item=x1&annotator=alice", REVIEWERS, MEMBER_REVIEWERS),
    *_page(f"/report?dataset={R}", REVIEWERS, MEMBER_REVIEWERS),
    *_page("/team", ADMINS),
    *_page("/models", ADMINS),
]

ROUTES = [
    Row("route", "/asset/<sha256> of an image in the restricted dataset", "GET", MEMBERS),
    Row("route", "/asset/<sha256> of an image in the open dataset", "GET", SIGNED_IN),
    Row("route", "/activity (active seconds on x1)", "POST", MEMBERS),
]


def _store(name: str, action: str, cells: tuple[str, ...], note: str = "") -> Row:
    return Row("store", name, action, cells, note)


STORE = [
    # the checks themselves
    _store("access.can_see_dataset", "read", MEMBERS, "returns False: a deny"),
    _store("access.visible_dataset", "read", MEMBERS),
    _store("access.visible_item", "read", MEMBERS),
    _store("access.can_see_asset", "read", MEMBERS, "x1's image (the /asset route asks it)"),
    # datasets and items
    _store("datasets.list_datasets", "read", MEMBERS, "the restricted dataset is listed"),
    _store("datasets.get_dataset", "read", MEMBERS),
    _store("datasets.set_dataset_members", "write", ADMINS),
    _store("items.dataset_stats", "read", MEMBERS, "the restricted dataset is counted"),
    _store("items.list_items", "read", MEMBERS),
    _store("search.search_items", "read", MEMBERS),
    _store("items.get_item", "read", MEMBERS),
    _store("items.suggestions_for", "read", MEMBERS),
    _store("items.rename_dataset", "write", ADMINS),
    _store("items.update_dataset_settings", "write", ADMINS),
    _store("items.deletion_impact", "read", ADMINS),
    _store("items.delete_dataset", "write", ADMINS),
    _store("items.import_jobs", "read", ADMINS),
    _store("duplicates.duplicate_groups", "read", MEMBERS, "the near-duplicate groups of its items"),
    _store("importer.import_source", "write", ADMINS),
    _store("team.settings.configure_dataset", "write", ADMINS),
    # ontology
    _store("ontology.create_class", "write", ADMINS),
    _store("ontology.update_class", "write", ADMINS),
    _store("ontology.delete_class", "write", ADMINS),
    _store("ontology.restore_class", "write", ADMINS),
    _store("ontology.create_classification", "write", ADMINS),
    _store("ontology.update_classification", "write", ADMINS),
    _store("ontology.move_classification", "write", ADMINS),
    _store("ontology.delete_classification", "write", ADMINS),
    _store("ontology.set_guidelines", "write", ADMINS),
    _store("ontology.import_ontology", "write", ADMINS),
    _store("ontology.copy_ontology", "write", ADMINS, "from the restricted dataset into the open one"),
    # navigating items (tool pages)
    _store("queue.count_items", "read", MEMBERS),
    _store("queue.rank_of", "read", MEMBERS),
    _store("queue.rank_after", "read", MEMBERS),
    _store("queue.selected", "read", MEMBERS),
    _store("queue.neighbour", "read", MEMBERS),
    _store("queue.following", "read", MEMBERS),
    _store("queue.next_todo", "read", MEMBERS),
    _store("queue.item_at", "read", MEMBERS),
    _store("queue.item_by_external_id", "read", MEMBERS),
    # item filters (the Datasets list, the tool pages' Show menu, Export and the report)
    _store("filters.item_conditions", "read", MEMBERS),
    _store("saved_filters.list_filters", "read", MEMBERS),
    _store("saved_filters.get_filter", "read", MEMBERS),
    _store("saved_filters.save_filter", "write", MEMBER_REVIEWERS),
    _store("saved_filters.delete_filter", "write", MEMBER_REVIEWERS),
    _store(
        "queue.my_status", "read", SIGNED_IN, "the caller's own status on an item id, nothing of the item"
    ),
    _store("team.queue.next_in_queue", "read", MEMBERS, "takes a lease: a write too"),
    _store("team.queue.peek_queue", "read", MEMBERS),
    _store("team.queue.queue_counts", "read", MEMBERS),
    _store("team.queue.queue_before", "read", MEMBERS),
    _store("team.queue.skip", "write", MEMBERS),
    # annotating
    _store("annotations.load_work", "read", MEMBERS),
    _store("annotations.save_draft", "write", MEMBERS),
    _store("annotations.save_annotation", "write", MEMBERS),
    _store("annotations.add_active_time", "write", MEMBERS),
    _store("comments.list_comments", "read", MEMBERS),
    _store("comments.add_comment", "write", MEMBERS),
    _store("comments.set_resolved", "write", RESOLVERS, "alice's comment: its author, reviewers, admins"),
    # history
    _store("team.history.item_history", "read", MEMBERS, "annotators see their own entries only"),
    # review
    _store("team.review.review_stream", "read", MEMBER_REVIEWERS),
    _store("team.review.review_count", "read", MEMBER_REVIEWERS),
    _store("team.review.get_for_review", "read", MEMBER_REVIEWERS),
    _store("team.review.find_annotation", "read", MEMBER_REVIEWERS),
    _store("team.review.accept", "write", MEMBER_REVIEWERS),
    _store("team.review.reject", "write", MEMBER_REVIEWERS),
    _store("team.review.fix_and_accept", "write", MEMBER_REVIEWERS),
    # adjudication
    _store("team.adjudicate.get_adjudication", "read", MEMBER_REVIEWERS),
    _store("team.adjudicate.items_to_adjudicate", "read", MEMBER_REVIEWERS),
    _store("team.adjudicate.finalise", "write", MEMBER_REVIEWERS),
    _store("team.adjudicate.finalise_agreed", "write", MEMBER_REVIEWERS),
    # export and report
    _store("export.export_bytes", "read", MEMBER_REVIEWERS),
    _store("report.report_data", "read", MEMBER_REVIEWERS),
    # models (the Models page, Datasets → Generate, Respond's Draft with a model)
    _store("llm.endpoints.add_model", "write", ADMINS),
    _store("llm.endpoints.remove_model", "write", ADMINS),
    _store("llm.jobs.start_job", "write", ADMINS, "a generation job on the restricted dataset"),
    _store("llm.jobs.list_jobs", "read", ADMINS),
    _store("llm.jobs.cancel_job", "write", ADMINS),
    _store("llm.jobs.resume_job", "write", ADMINS),
    _store("llm.draft.draft_reply", "read", MEMBERS, "sends x1's dialogue to a model"),
    # users (the Team page)
    _store("users.add_user", "write", ADMINS),
    _store("users.set_role", "write", ADMINS),
    _store("users.set_active", "write", ADMINS),
    _store("users.reset_password", "write", ADMINS),
]

ROWS = [*PAGES, *ROUTES, *STORE]

# Store functions that read a dataset's data but take no signed-in user: the CLI (the operator) calls them,
# or a store function or page calls them only after one of the checked steps above. The coverage test
# fails for a new function that takes a dataset, item or annotation and is in neither list; a function
# that takes a `user` must have a row.
NO_USER = {
    "search.drop_index": "inside delete_dataset (admins, checked)",
    "search.ensure_index": "inside import_source (checked), the demo and the generation runner",
    "search.fts_table": "a table name: reads nothing",
    "search.has_index": "inside matches",
    "search.index_texts": "inside import_source (checked), the demo and the generation runner",
    "search.matches": "inside search_items, list_items and the item filter (checked)",
    "search.item_matches": "inside the item filter's navigation form (store.queue's checked reads)",
    "search.rebuild_index": "the demo, migration 0004 and the CLI (admins)",
    "search.replace_texts": "inside the generation runner (a job an admin started)",
    "annotations.bump_version": "inside save_draft / save_annotation / the review verdicts (checked)",
    "annotation_values.backfill": "migration 0007 and bench/filters.py (no user: every annotation's values)",
    "annotation_values.class_key": "a key from a class id and attribute name: reads nothing",
    "annotation_values.replace": "inside annotations.write_results (a save, a fix, a final answer: checked)",
    "annotation_values.rows_of": "turns results and answers into rows: reads nothing",
    "export_filters.annotation_filter": "a WHERE clause built inside write_export / report_data",
    "report.read.read_columns": "inside report_data (checked)",
    "filters.conditions": "item_conditions without the check: inside the checked queue, export and report reads",
    "filters.count_selected": "inside items.list_items (after its checked item_conditions) and queue.count_items (checked)",
    "filters.annotation_items": "inside items.list_items, after its checked item_conditions",
    "filters.model_lists": "inside the filters' model condition and report.read.item_models (checked)",
    "filters.disagreeing": "a query built inside refresh_disagree, migration 0004 and bench/filters.py",
    "filters.refresh_disagree": "inside the checked saves, review verdicts and annotation imports",
    "export_filters.item_restriction": "the item filter's conditions inside write_export / report_data",
    "report.read.item_models": "inside report_data (checked)",
    "annotations.result_rows": "turns a work dict into rows: reads nothing",
    "queue.in_order": "a WHERE clause on an item's (position, id): reads nothing",
    "export.data_file_name": "a file name from a dataset name: reads nothing",
    "export_team.history_query": "a query built inside write_export",
    "import_worker.batches": "inside import_source (checked)",
    "import_worker.item_row": "inside import_source (checked)",
    "import_worker.fill_deferred": "inside import_source (checked)",
    "import_writer.insert_items": "inside import_source (checked)",
    "import_worker.source_label_of": "an ImportJob's source for messages, inside import_source (checked)",
    "llm.jobs.get_job": "inside the checked job functions, and the Models page (admins)",
    "llm.jobs.start_runner": "after start_job / resume_job (checked)",
    "llm.runner.run_job": "the runner of a job an admin started or resumed",
    "llm.jobs.check_items": "the CLI's --items",
    "llm.jobs.fraction": "figures of a job already loaded",
    "llm.jobs.rate": "figures of a job already loaded",
    "annotations.saved_work": "an Annotation already loaded through a checked call",
    "datasets.create_dataset": "Datasets page (admins) and the CLI",
    "datasets.dataset_members": "Team page (admins)",
    "export_read.export_schema": "inside write_export",
    "export_filters.count_selection": "inside write_export / preview",
    "export_read.iter_export_items": "inside write_export / preview",
    "export.preview": "Export page (reviewers, admins), a dataset from list_datasets(user)",
    "export.write_export": "export_bytes (checked) and the CLI",
    "export_worker.parallel_job": "inside write_export",
    "export_worker.write_parallel": "inside write_export, with the job parallel_job made",
    "export_worker.tally": "counts an export item already read (write_export, write_parallel): reads nothing",
    "export_filters.dataset_annotators": "Export and Report pages, a dataset from list_datasets(user)",
    "items.asset_bytes": "the /asset route checks the session first (row above)",
    "ontology.list_classes": "tool, review and ontology pages, a dataset from a checked call",
    "ontology.list_classifications": "as list_classes",
    "ontology.get_class": "inside the checked ontology functions",
    "ontology.get_classification": "inside the checked ontology functions",
    "ontology.export_ontology": "Ontology page (admins), export and the CLI",
    "ontology.has_candidates": "Ontology page (admins)",
    "ontology.check_ontology": "Ontology page (admins), import_ontology",
    "ontology_usage.result_counts": "Ontology page (admins)",
    "ontology_usage.answer_counts": "Ontology page (admins)",
    "ontology_usage.removed_usage": "Ontology page (admins)",
    "ontology_usage.removed_answer_usage": "Ontology page (admins)",
    "ontology_usage.import_losses": "Ontology page (admins) and the CLI",
    "report.last_change": "Report page's cache key, before report_data (checked)",
    "items.change_keys": "inside dataset_stats (the datasets the user may see) and report.last_change",
    "team.history.record": "inside the checked writes",
    "team.history.draft_due": "inside save_draft (checked)",
    "team.queue.refresh_slots": "inside the checked queue writes",
    "team.queue.expire_leases": "inside the checked queue functions",
    "team.review.multi_submitted": "a query inside review_stream / items_to_adjudicate (checked)",
    "team.review.may_disagree": "a condition inside review_stream / items_to_adjudicate (checked)",
    "team.review.submitted_works": "inside get_adjudication / finalise (checked)",
    "annotations.write_results": "inside save_annotation, fix_and_accept and finalise (checked)",
    "team.settings.team_settings": "a Dataset already loaded through a checked call",
    "team.settings.overlap_of": "a Dataset already loaded through a checked call",
    "team.settings.wants_review": "inside save_annotation (checked)",
}

# Store functions that take a user but are steps inside the checked functions above (or act on an object a
# checked call returned): no row, each with where it is called.
INSIDE = {
    "roundtrip.apply_native": "inside import_source (admins)",
    "team.queue.claim": "inside next_in_queue / save_annotation, and the tool page on an item a checked call returned",
    "team.queue.holds_slot": "the user's own lease: inside the queue functions and the tool page, as claim",
    "team.queue.release": "inside save_annotation / skip (checked)",
    "team.queue.rejected_items": "inside next_in_queue (checked)",
}


def render() -> str:
    """The table as Markdown, for SECURITY.md."""
    short = {A: "✅", D: "—"}
    head = "| resource | action | " + " | ".join(ROLES) + " |"
    lines = [head, "|" + "---|" * (len(ROLES) + 2)]
    for row in ROWS:
        name = f"`{row.resource}`" if row.kind != "store" else f"`store.{row.resource}`"
        lines.append(f"| {name} | {row.action} | " + " | ".join(short[c] for c in row.cells) + " |")
    return "\n".join(lines) + "\n"


def counts() -> tuple[int, int, int]:
    """(cells, allows, denies)."""
    cells = [c for row in ROWS for c in row.cells]
    return len(cells), cells.count(A), cells.count(D)


if __name__ == "__main__":
    print(render(), end="")
