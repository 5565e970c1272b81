"""Team (admins): users and roles, deactivation, password resets, and who may open a restricted dataset."""

import streamlit as st

from components.auth import require_role
from store import db
from store.datasets import dataset_members, list_datasets, set_dataset_members
from store.errors import Forbidden, InputError, NotFound
from store.users import ROLES, add_user, list_users, reset_password, set_active, set_role

admin = require_role("admin")
st.title("Team")

MESSAGE_KEY = "team.message"


def _apply(change, success: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """Run a store change in a write session; keep one message for the next run."""
    try:
        with db.write_session() as session:
            change(session=session, actor=admin, **kwargs)
    except (InputError, Forbidden, NotFound) as exc:
        st.session_state[MESSAGE_KEY] = ("error", str(exc))
    else:
        st.session_state[MESSAGE_KEY] = ("success", success)


# Messages in a slot that is there on every run: a message that came and went would move the tabs, which the
# browser would then draw anew on their first tab (as on the Datasets page).
notices = st.container()
if message := st.session_state.pop(MESSAGE_KEY, None):
    (notices.error if message[0] == "error" else notices.success)(message[1])

with db.read_session() as session:
    users = list_users(session=session)
    datasets = list_datasets(session=session, user=admin)
    members = {d.id: dataset_members(session=session, dataset_id=d.id) for d in datasets}

st.dataframe(
    [
        {
            "Username": u.username,
            "Display name": u.display_name,
            "Role": u.role,
            "Active": u.active,
            "Created": u.created_at.strftime("%Y-%m-%d"),
        }
        for u in users
    ],
    hide_index=True,
    width="stretch",
)

add_tab, change_tab, access_tab = st.tabs(["Add user", "Change a user", "Dataset access"])

with add_tab, st.form("team.add", clear_on_submit=True):
    username = st.text_input("Username", key="team.add.username")
    display_name = st.text_input("Display name", key="team.add.display")
    role = st.selectbox("Role", ROLES, index=ROLES.index("annotator"), key="team.add.role")
    password = st.text_input("Password", type="password", key="team.add.password")
    if st.form_submit_button("Add user", type="primary"):
        _apply(
            lambda session, actor: add_user(
                session=session,
                actor=actor,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
            ),
            f"Added {username}.",
        )
        st.rerun()

with change_tab:
    by_name = {u.username: u for u in users}
    chosen = st.selectbox("User", list(by_name), key="team.change.user")
    target = by_name[chosen]
    with st.form("team.role"):
        new_role = st.selectbox("Role", ROLES, index=ROLES.index(target.role), key=f"team.role.{target.id}")
        if st.form_submit_button("Change role"):
            _apply(set_role, f"{target.username} is now {new_role}.", user_id=target.id, role=new_role)
            st.rerun()
    label = "Deactivate" if target.active else "Reactivate"
    if st.button(label, key="team.active"):
        _apply(set_active, f"{label}d {target.username}.", user_id=target.id, active=not target.active)
        st.rerun()
    with st.form("team.password", clear_on_submit=True):
        new_password = st.text_input("New password", type="password", key="team.password.value")
        if st.form_submit_button("Reset password"):
            _apply(
                reset_password,
                f"New password set for {target.username}; their sessions ended.",
                user_id=target.id,
                password=new_password,
            )
            st.rerun()

with access_tab:
    st.caption("A dataset is open to every annotator unless it is restricted to named members.")
    if not datasets:
        st.info("No datasets yet.")
    for dataset in datasets:
        with st.form(f"team.access.{dataset.id}"):
            st.markdown(f"**{dataset.name}**")
            restricted = st.toggle(
                "Restricted to members", value=dataset.restricted, key=f"team.r.{dataset.id}"
            )
            chosen_members = st.multiselect(
                "Members",
                [u.username for u in users],
                default=members[dataset.id],
                key=f"team.m.{dataset.id}",
            )
            if st.form_submit_button("Save access"):
                _apply(
                    lambda session, actor, d=dataset, r=restricted, m=chosen_members: set_dataset_members(
                        session=session, user=actor, dataset_id=d.id, usernames=m, restricted=r
                    ),
                    f"Access to {dataset.name} saved.",
                )
                st.rerun()
