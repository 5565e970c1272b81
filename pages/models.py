"""Models (admins): OpenAI-compatible endpoints (the key stays in the server's environment) and the jobs."""

import os

import streamlit as st

from components.auth import require_role
from components.llm_jobs import jobs_ui
from store import db
from store.errors import InputError, NotFound
from store.llm.endpoints import add_model, list_models, remove_model

admin = require_role("admin")
st.title("Models")
st.caption(
    "Endpoints that speak the OpenAI chat API (vLLM, llama.cpp server, Ollama, TGI, OpenAI). A key is never "
    "typed here: name the environment variable that holds it on the server."
)
MESSAGE_KEY = "models.message"

if message := st.session_state.pop(MESSAGE_KEY, None):
    (st.error if message[0] == "error" else st.success)(message[1])

with db.read_session() as session:
    models = list_models(session=session)
if models:
    st.dataframe(
        [
            {
                "Name": m.name,
                "Model id": m.model,
                "Base URL": m.base_url,
                "Key variable": m.api_key_env or "(none)",
                # Whether the variable is set on this server, never its value.
                "Key set": "yes" if not m.api_key_env or os.environ.get(m.api_key_env) else "NO",
                "Concurrency": m.concurrency,
                "Temperature": m.temperature,
                "Max tokens": m.max_tokens,
                "Vision": m.vision,
            }
            for m in models
        ],
        hide_index=True,
        width="stretch",
    )
else:
    st.info("No models yet: add one below.")

add, remove = st.columns(2)
with add.form("models.add", clear_on_submit=True):
    st.markdown("**Add a model**")
    name = st.text_input("Name (what candidates are called)", placeholder="llama-3-8b")
    base_url = st.text_input("Base URL", placeholder="http://127.0.0.1:8000/v1")
    model_id = st.text_input("Model id", placeholder="meta-llama/Meta-Llama-3-8B-Instruct")
    key_env = st.text_input("API key environment variable (its name)", placeholder="OPENAI_API_KEY")
    system = st.text_area("System prompt", height=68)
    a, b, c = st.columns(3)
    temperature = a.number_input("Temperature", min_value=0.0, max_value=2.0, value=None, step=0.1)
    max_tokens = b.number_input("Max tokens", min_value=1, value=None, step=64)
    concurrency = c.number_input("Concurrency", min_value=1, max_value=64, value=4)
    vision = st.checkbox("Reads images (sent as data URLs)")
    if st.form_submit_button("Add model", type="primary"):
        try:
            with db.write_session() as session:
                add_model(
                    session=session, user=admin, name=name, base_url=base_url, model=model_id,
                    api_key_env=key_env.strip(), temperature=temperature,
                    max_tokens=int(max_tokens) if max_tokens else None, system=system,
                    concurrency=int(concurrency), vision=vision,
                )  # fmt: skip
        except InputError as exc:
            st.session_state[MESSAGE_KEY] = ("error", str(exc))
        else:
            st.session_state[MESSAGE_KEY] = ("success", f"Added {name.strip()}.")
        st.rerun()

with remove.form("models.remove"):
    st.markdown("**Remove a model** (the candidates it made stay)")
    gone = st.selectbox("Model", [m.name for m in models], index=None)
    if st.form_submit_button("Remove") and gone:
        try:
            with db.write_session() as session:
                remove_model(session=session, user=admin, name=gone)
        except NotFound as exc:
            st.session_state[MESSAGE_KEY] = ("error", str(exc))
        else:
            st.session_state[MESSAGE_KEY] = ("success", f"Removed {gone}.")
        st.rerun()

st.subheader("Jobs")
st.caption("Generate candidates and run a judge from a dataset's Generate tab (Datasets page).")
jobs_ui(admin)
