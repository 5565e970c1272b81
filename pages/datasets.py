"""Dataset Center: create datasets, import dialogues with a preview, browse items, rename and delete."""

from __future__ import annotations

import dataclasses

import streamlit as st

from components.auth import require_role
from components.duplicates import duplicates_ui
from components.item_filter import filter_ui, hand_over, matches_table, tool_of
from components.llm_jobs import generate_ui
from components.preview import dialogue_ui, mapping_ui
from components.team_settings import team_settings_ui
from core.errors import FormatError
from store import db, items
from store.datasets import create_dataset
from store.errors import InputError
from store.importer import ImportProgress, default_options, import_source, preview_source, table_info
from store.models import Dataset
from store.sources import check_server_path

UPLOAD_TYPES = ["csv", "xlsx", "xls", "json", "jsonl", "zip", "gz", "tgz", "tar", "rar"]
user = require_role("admin")
st.title("Datasets")


def create_ui(first: bool) -> None:
    with st.expander("Create a dataset", expanded=first), st.form("datasets.create", clear_on_submit=True):
        name = st.text_input("Name", key="datasets.new_name")
        description = st.text_area("Description", height=68, key="datasets.new_description")
        if st.form_submit_button("Create"):
            try:
                with db.write_session() as session:
                    dataset = create_dataset(
                        session=session, name=name, description=description, created_by=user.id
                    )
                st.session_state["datasets.open"] = dataset.id
                st.rerun()
            except InputError as exc:
                st.error(str(exc))


def table_ui(stats: list[items.DatasetStats]) -> items.DatasetStats | None:
    rows = [{k: v for k, v in dataclasses.asdict(s).items() if k not in ("id", "description")} for s in stats]
    counts = ("items", "messages", "images", "new", "saved", "submitted", "invalid")
    numbers = {name: st.column_config.NumberColumn(format="localized") for name in counts}  # 1,000,000
    st.dataframe(rows, hide_index=True, width="stretch", column_config=numbers)
    by_id = {s.id: s for s in stats}
    current = st.session_state.get("datasets.open")
    ids = list(by_id)
    chosen = st.selectbox(
        "Open a dataset",
        ids,
        index=ids.index(current) if current in by_id else 0,
        format_func=lambda i: by_id[i].name,
    )
    st.session_state["datasets.open"] = chosen
    return by_id[chosen]


def load_image(ref: str) -> bytes | None:
    try:
        return items.asset_bytes(ref)
    except Exception:
        return None


def _turn(key: str, step: int) -> None:
    st.session_state[key] = st.session_state.get(key, 0) + step


@st.fragment
def items_ui(ds: items.DatasetStats) -> None:
    """The dataset's items: search, filters, a page of 20 and one item shown. A fragment: searching, filtering
    and paging rerun this alone, not the dataset table's counts and the other tabs (~1 s at 1M items)."""
    search = st.text_input("Search items", key=f"datasets.search.{ds.id}",
                           placeholder='words, "a phrase", prefix*: all must match')  # fmt: skip
    flt = filter_ui(dataset_id=ds.id, user=user, key="datasets.filter", search=search)
    if st.session_state.get(f"datasets.shown.{ds.id}") != flt.to_json():  # a new filter starts on page 1
        st.session_state[f"datasets.shown.{ds.id}"] = flt.to_json()
        st.session_state[f"datasets.page.{ds.id}"] = 0
    page = st.session_state.setdefault(f"datasets.page.{ds.id}", 0)
    try:
        with db.read_session() as session:
            found, total = items.list_items(
                session=session, user=user, dataset_id=ds.id, flt=flt, offset=page * 20, limit=20
            )
            kind = "respond" if tool_of(session, ds.id) == "respond" else "evaluate"
    except InputError as exc:
        st.error(str(exc))
        return
    count, go = st.columns([3, 1], vertical_alignment="center")
    noun = "item matches" if total == 1 else "items match"
    count.markdown(f"**{total:,} {noun}**" if not flt.is_empty() else f"**{total:,} items**")
    if go.button("Annotate these", type="primary", disabled=total == 0, key=f"datasets.annotate.{ds.id}",
                 help=f"Open {kind.title()} on exactly these items (its Show menu keeps the filter)"):  # fmt: skip
        hand_over(kind, ds.id, flt)
        st.switch_page(f"pages/{kind}.py")
    if not found:
        st.info("No items match." if not flt.is_empty() else "No items yet: import some on the Import tab.")
        return
    # (the page turned in the buttons' callbacks, before the run that draws it, whether that run is the
    # fragment's or the whole page's)
    turn = {"on_click": _turn, "args": (f"datasets.page.{ds.id}",)}
    left, mid, right = st.columns([1, 3, 1], vertical_alignment="center")
    left.button("Previous", disabled=page == 0, kwargs={"step": -1}, **turn)
    mid.caption(f"{page * 20 + 1}–{page * 20 + len(found)} of {total:,}", text_alignment="center")
    right.button("Next", disabled=(page + 1) * 20 >= total, kwargs={"step": 1}, **turn)
    st.html(matches_table(found, flt.search))
    by_id = {item.id: item for item in found}
    first_text = {i.id: next((m.get("text", "") for m in i.messages or []), "")[:80] for i in found}
    chosen = st.selectbox(
        "Item", list(by_id), format_func=lambda i: f"{by_id[i].external_id} · {first_text[i]}"
    )
    item = by_id[chosen]
    m, c = len(item.messages or []), len(item.candidates or [])
    st.caption(f"id {item.external_id} · {m} message{'s' * (m != 1)} · {c} candidate{'s' * (c != 1)}")
    dialogue_ui(item.messages or [], item.candidates or [], load_image)


def sheet_and_mapping_ui(source: object, key: str) -> tuple[object | None, str | None]:
    """For a spreadsheet: the sheet (when there are several) and the column mapping; (None, None) otherwise."""
    sheet = st.session_state.get(f"{key}.sheet")
    cached = f"datasets.table.{key}.{sheet}"
    if cached not in st.session_state:
        st.session_state[cached] = table_info(source, sheet=sheet) or False
    info = st.session_state[cached]
    if not info:
        return None, None
    if len(info.sheets) > 1:
        sheet = st.selectbox("Sheet", info.sheets, key=f"{key}.sheet")
    return mapping_ui(info, f"{key}.{sheet}"), sheet


def import_ui(ds: items.DatasetStats) -> None:
    kind = st.radio(
        "Import from", ["Upload", "URL", "S3", "Server path"], horizontal=True, key="datasets.kind"
    )
    source: object = None
    gen = st.session_state.setdefault("datasets.gen", 0)  # a new value gives empty source widgets
    if kind == "Upload":
        files = st.file_uploader(
            "Files", type=UPLOAD_TYPES, accept_multiple_files=True, key=f"datasets.files.{gen}"
        )
        st.caption(
            "Uploads are held in the server's memory: for files over 500 MB use a URL, S3 or a server path."
        )
        source = list(files) if files else None
        key = "|".join(f"{f.name}:{f.size}:{f.file_id}" for f in files or [])
    else:
        hint = {
            "URL": "https://…",
            "S3": "s3://bucket/key or s3://bucket/prefix/",
            "Server path": "/data/big.jsonl",
        }
        field = st.text_input(
            kind or "Source", placeholder=hint.get(kind or "", ""), key=f"datasets.src.{kind}.{gen}"
        )
        source = field.strip() or None
        key = str(source)
    if not source:
        return
    key = f"{ds.id}.{abs(hash(key))}"
    try:
        if kind == "Server path":
            check_server_path(str(source))
        mapping, sheet = sheet_and_mapping_ui(source, key)
        options = default_options(mapping=mapping, sheet=sheet) if mapping else default_options()
        preview_key = f"{key}.{sheet}.{mapping!r}"
        if st.session_state.get("datasets.preview", (None,))[0] != preview_key:
            with st.spinner("Reading…"):
                st.session_state["datasets.preview"] = (preview_key, preview_source(source, options))
        preview = st.session_state["datasets.preview"][1]
    except (InputError, FormatError) as exc:
        st.error(f"{exc}\n\nNothing was imported.")
        return
    count = f"{preview.count:,}" + ("" if preview.complete else "+")
    st.markdown(
        f"**Preview** · format **{preview.format}** · **{count} items** in {', '.join(preview.data_files)}"
    )
    for item in preview.items[:3]:
        with st.container(border=True):
            st.caption(f"id {item.external_id}")
            dialogue_ui(item.messages, item.candidates, preview.images.get)
    skip = st.checkbox("Skip near duplicates", key=f"datasets.skipdup.{ds.id}",
                       help="Leave out items whose prompt nearly repeats an item already in the dataset or "
                            "earlier in this source (similarity of their words).")  # fmt: skip
    similarity = st.slider("Similarity at least", 0.5, 1.0, 0.8, 0.05, key=f"datasets.skipsim.{ds.id}") if skip else None  # fmt: skip
    if st.button("Import", type="primary"):
        bar = st.progress(0.0, text="Importing…")

        def tick(p: ImportProgress) -> None:
            bar.progress(p.fraction, text=f"{p.items:,} items · {p.items_per_second:,.0f} items/s")

        try:
            report = import_source(
                user=user,
                dataset_name=ds.name,
                source=source,
                options=options,
                progress=tick,
                skip_duplicates=similarity,
            )
        except (InputError, FormatError) as exc:
            bar.empty()
            st.error(f"{exc}\n\nNothing was imported.")
            return
        st.session_state.pop("datasets.preview", None)
        st.session_state["datasets.gen"] = gen + 1
        st.session_state["datasets.report"] = report
        st.rerun()


def blind_ui(ds: items.DatasetStats) -> None:
    """Blind comparison: each annotator sees the candidates in an order of their own, model names hidden."""
    with db.read_session() as session:
        settings = dict(session.get(Dataset, ds.id).settings or {})
    with st.form(f"datasets.blind.{ds.id}"):
        st.markdown("**Blind comparison**")
        shuffle = st.toggle(
            "Shuffle candidate order per annotator", value=bool(settings.get("shuffle_candidates"))
        )
        hide = st.toggle("Hide model names", value=bool(settings.get("hide_model_names")))
        if st.form_submit_button("Save settings"):
            with db.write_session() as session:
                items.update_dataset_settings(session=session, user=user, dataset_id=ds.id,
                                              changes={"shuffle_candidates": shuffle, "hide_model_names": hide})  # fmt: skip
            st.toast("Settings saved. Annotators see them on the items they open from now on (within 30 s).")


def manage_ui(ds: items.DatasetStats) -> None:
    with st.form(f"datasets.rename.{ds.id}"):
        name = st.text_input("Name", value=ds.name, key=f"datasets.name.{ds.id}")
        description = st.text_area("Description", value=ds.description, height=68)
        if st.form_submit_button("Rename"):
            try:
                with db.write_session() as session:
                    items.rename_dataset(
                        session=session, user=user, dataset_id=ds.id, name=name, description=description
                    )
                st.rerun()
            except InputError as exc:
                st.error(str(exc))
    blind_ui(ds)
    team_settings_ui(user, ds.id)
    st.warning(
        f"Deleting **{ds.name}** loses its {ds.items:,} items and all the work on them: annotations, results, "
        "suggestions and comments. This cannot be undone."
    )
    sure = st.checkbox(f"Yes, delete {ds.name} and everything in it", key=f"datasets.confirm.{ds.id}")
    if not sure:
        return
    # Counted only now: at 1M items the counts took ~1 s, which every run of this page paid (its tabs all run).
    with db.read_session() as session:
        lost = items.deletion_impact(session=session, user=user, dataset_id=ds.id)
    st.error(f"**{ds.name}** loses " + ", ".join(f"{v:,} {k}" for k, v in lost.items()) + ".")
    if st.button("Delete dataset", type="primary"):
        with db.write_session() as session:
            items.delete_dataset(session=session, user=user, dataset_id=ds.id)
        st.session_state.pop("datasets.open", None)
        st.rerun()


@st.cache_resource
def known_stats(url: str) -> items.KnownStats:
    """The datasets' counts from this server's last runs of the page (any user's), kept while nothing changed;
    one dict a database (tests run many apps in one process)."""
    return {}


with db.read_session() as session:
    stats = items.dataset_stats(session=session, user=user, known=known_stats(db.database_url()))
create_ui(first=not stats)
if not stats:
    st.info("No datasets yet: create one above, then import dialogues into it.")
    st.stop()
# The last import's report, in a slot that is there on every run: had it come and gone, the tabs below would
# stand at another place in the page, and the browser would draw them anew on the first tab (the next upload
# after an import went to a hidden Import tab, the Items tab shown instead).
report_slot = st.container()
report = st.session_state.pop("datasets.report", None)
if report is not None:
    report_slot.success(f"Imported into {report.dataset}: {report.summary()} in {report.seconds:.1f} s.")
    for note in report.notes:
        report_slot.info(note)
    if report.near_skipped:
        with report_slot.expander(
            f"{report.near_skipped} near duplicate{'' if report.near_skipped == 1 else 's'} left out"
        ):
            st.text(
                "\n".join(report.near_lines())
                + ("\n…" if report.near_skipped > len(report.near_skipped_ids) else "")
            )
ds = table_ui(stats)
browse, load, generate, dups, manage = st.tabs(
    ["Items", "Import", "Generate", "Duplicates", "Settings / delete"]
)
with browse:
    items_ui(ds)
with load:
    import_ui(ds)
with generate:
    generate_ui(user, ds.id)
with dups:
    duplicates_ui(ds, user)
with manage:
    manage_ui(ds)
