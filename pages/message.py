"""Open in New Tab: one message (or candidate reply) of an item, full width, by a deep link.

/message?dataset=NAME&item=EXTERNAL_ID&bubble=m3 (message 3, 0-based) or bubble=c1 (candidate B).
"""

import streamlit as st

from components.auth import require_role
from components.dialogue import bubbles, dialogue_canvas
from store import db
from store.datasets import get_dataset
from store.errors import NotFound
from store.queue import item_by_external_id

user = require_role()
name, external, bubble = (st.query_params.get(k, "") for k in ("dataset", "item", "bubble"))
try:
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=name, user=user)
        item = item_by_external_id(session=session, user=user, dataset_id=dataset.id, external_id=external)
except NotFound as err:
    st.error(f"Not found: {err}")
    st.stop()

content = bubbles(item_id=item.id, messages=item.messages or [], candidates=item.candidates or [])
found = [b for b in content["messages"] + content["candidates"] if b["id"] == bubble]
if not found:
    st.error(f"Item {external} has no bubble {bubble!r}.")
    st.stop()
shown = found[0]
where = (
    f"candidate {shown['label']}"
    if "label" in shown
    else f"message {int(bubble[1:]) + 1} of {len(content['messages'])}"
)
st.caption(f"{dataset.name} · item {item.external_id} · {where}")
dialogue_canvas(
    key="message.canvas",
    item_key=f"{dataset.id}:{item.id}:{bubble}",
    content={"messages": [shown], "candidates": []},
    mode="single",
)
