"""Export (admins, reviewers): pick a dataset, a format and filters, see the first records and the count,
download the data file or a zip with the manifest and images."""

from __future__ import annotations

from functools import partial

import orjson
import streamlit as st

from components.auth import require_role
from components.item_filter import saved_pick_ui
from core.export import FORMATS, Options
from store import db
from store.datasets import list_datasets
from store.errors import InputError, NotFound
from store.export import data_file_name, export_bytes, preview
from store.export_filters import ExportFilters, dataset_annotators

user = require_role("admin", "reviewer")
st.title("Export")

STATUS = {
    "submitted": "Submitted (accepted included)",
    "accepted": "Accepted by a reviewer",
    "saved": "Saved and submitted",
    "all": "All, drafts and rejected too",
}
VALIDITY = {"all": "Valid and invalid", "valid": "Valid only", "invalid": "Invalid only"}
PAIRS = {"all": "Every ordered pair", "best": "Best vs rest"}
IMAGES = {"zip": "Image files in the zip", "urls": "Blob URLs"}

with db.read_session() as session:
    datasets = list_datasets(session=session, user=user)
if not datasets:
    st.info("No datasets yet. Create one and import dialogues on the Datasets page.")
    st.stop()

names = [d.name for d in datasets]
wanted = st.query_params.get("dataset")
left, right = st.columns([1, 2])
with left:
    name = st.selectbox(
        "Dataset", names, index=names.index(wanted) if wanted in names else 0, key="export.dataset"
    )
    fmt = st.selectbox("Format", list(FORMATS), format_func=lambda f: FORMATS[f].label, key="export.format")
    final = st.checkbox(
        "Final answers only",
        key="export.final",
        help="Each item's adjudicated answer (Review page), instead of the annotators' work.",
    )
    status = st.radio("Status", list(STATUS), format_func=STATUS.get, key="export.status", disabled=final)
    validity = st.selectbox("Validity", list(VALIDITY), format_func=VALIDITY.get, key="export.validity")
    dataset = next(d for d in datasets if d.name == name)
    with db.read_session() as session:
        people = dataset_annotators(session=session, dataset_id=dataset.id)
    annotators = st.multiselect("Annotators", people, placeholder="Everyone", key="export.annotators")
    items = saved_pick_ui(dataset_id=dataset.id, user=user, key="export.items")
    c1, c2 = st.columns(2)
    date_from = c1.date_input("Changed from", value=None, key="export.from")
    date_to = c2.date_input("Changed until", value=None, key="export.to")
    agree = st.checkbox("Only items where annotators agree", key="export.agree")
    pair_mode = "all"
    if fmt == "dpo":
        pair_mode = st.radio("Pairs from rankings", list(PAIRS), format_func=PAIRS.get, key="export.pairs")
    images = st.radio("Images", list(IMAGES), format_func=IMAGES.get, key="export.images", horizontal=True)

filters = ExportFilters(
    status=status,
    annotators=list(annotators),
    date_from=date_from,
    date_to=date_to,
    validity=validity,
    agree_only=agree,
    final=final,
    items=items.to_dict() if items else None,
)
options = Options(pair_mode=pair_mode)

with right:
    try:
        with db.read_session() as session:
            records, counts = preview(
                session=session, dataset=dataset, fmt=fmt, filters=filters, options=options, image_mode=images
            )
    except (InputError, NotFound) as exc:
        st.warning(str(exc))
        st.stop()
    m1, m2, m3 = st.columns(3)
    m1.metric("Items in dataset", f"{counts['items']:,}")
    m2.metric("Annotated items selected", f"{counts['annotated_items']:,}")
    m3.metric("Annotations selected", f"{counts['annotations']:,}")
    data_name = data_file_name(dataset.name, fmt)
    if not records:
        st.warning("No records: the selection gives nothing in this format.")
        st.stop()
    make = partial(export_bytes, dataset_name=dataset.name, fmt=fmt, filters=filters, options=options,
                   image_mode=images, user=user)  # fmt: skip
    d1, d2 = st.columns(2)
    d1.download_button(
        f"Download {data_name}",
        data=partial(make, as_zip=False),
        file_name=data_name,
        mime="application/octet-stream",
        type="primary",
        on_click="ignore",
        key="export.download_data",
    )
    d2.download_button(
        "Download .zip (data, manifest, images)",
        data=partial(make, as_zip=True),
        file_name=data_name.rsplit(".", 1)[0] + ".zip",
        mime="application/zip",
        on_click="ignore",
        key="export.download_zip",
    )
    st.subheader(f"Preview: the first {len(records)} record{'' if len(records) == 1 else 's'}")
    if fmt in ("csv", "xlsx"):
        st.dataframe(records, hide_index=True, width="stretch")
    else:
        st.code(b"\n".join(orjson.dumps(r) for r in records).decode(), language="json", wrap_lines=True)
    st.caption(
        "Training formats (SFT, DPO, KTO) leave out invalid annotations; ties give no preference pair. "
        "Every download carries a manifest in the zip: dataset, ontology, filters, counts, annotators, version."
    )
