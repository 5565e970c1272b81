"""Parley's router: page config, sign-in gate, navigation by role (and, for the server, the custom routes)."""

import streamlit as st

from components import auth

ANY = ("admin", "annotator", "reviewer")
# (section, script, title, icon, url_path, roles allowed). A page the user's role does not allow keeps its
# address but shows a refusal, so a URL never reaches another role's page.
PAGES = [
    ("Annotate", "pages/home.py", "Home", ":material/home:", "home", ANY),
    ("Annotate", "pages/evaluate.py", "Evaluate", ":material/balance:", "evaluate", ANY),
    ("Annotate", "pages/respond.py", "Respond", ":material/edit_note:", "respond", ANY),
    ("Manage", "pages/datasets.py", "Datasets", ":material/folder_open:", "datasets", ("admin",)),
    ("Manage", "pages/ontology.py", "Ontology", ":material/label:", "ontology", ("admin",)),
    ("Manage", "pages/export.py", "Export", ":material/download:", "export", ("admin", "reviewer")),
    ("Manage", "pages/review.py", "Review", ":material/fact_check:", "review", ("admin", "reviewer")),
    ("Manage", "pages/report.py", "Report", ":material/monitoring:", "report", ("admin", "reviewer")),
    ("Manage", "pages/team.py", "Team", ":material/group:", "team", ("admin",)),
    ("Manage", "pages/models.py", "Models", ":material/smart_toy:", "models", ("admin",)),
    # "Open in New Tab" from the canvas: one message, full width; reached only by its deep link.
    ("Annotate", "pages/message.py", "Message", ":material/chat:", "message", ANY),
]
# Pages opened only by a link: routed, role-checked and surviving sign-in, but not in the sidebar.
HIDDEN = {"message"}

if __name__ != "__main__":
    # `streamlit run app.py` imports this module and serves `app` (ASGI): Streamlit plus our routes for
    # the session cookie and the canvas images. The script body below runs per rerun as "__main__".
    from streamlit.runtime.pages_manager import PagesManager

    from components import startup
    from components.activity import activity_routes
    from components.media import media_routes

    # Streamlit guesses "pages/ directory app" until the first st.navigation call, so the very first
    # request to a deep link (/evaluate) would run pages/evaluate.py without this router. This is
    # the flag st.navigation itself sets; setting it up front makes every request go through here.
    PagesManager.uses_pages_directory = False
    auth.install_cookie_secret()
    from starlette.middleware import Middleware

    from components.headers import SecurityHeaders

    app = st.App(
        "app.py",
        routes=[*auth.auth_routes(), *media_routes(), *activity_routes()],
        lifespan=startup.lifespan,
        middleware=[Middleware(SecurityHeaders)],
    )
else:
    st.set_page_config(page_title="Parley", page_icon="💬", layout="wide")
    user = auth.current_user()
    if user is None:
        # Every address exists while signed out, so a deep link survives sign-in.
        pages = [
            st.Page(script, title=title, url_path=url, default=(url == "home"))
            for _, script, title, _icon, url, _roles in PAGES
        ]
        page = st.navigation(pages, position="hidden")
        auth.sign_in_ui(auth.next_path("" if page.url_path == "home" else page.url_path))
        st.stop()

    sections: dict[str, list] = {}
    for section, script, title, icon, url, roles in PAGES:
        if user.role in roles:
            sections.setdefault(section, []).append(
                st.Page(
                    script,
                    title=title,
                    icon=icon,
                    url_path=url,
                    default=(url == "home"),
                    visibility="hidden" if url in HIDDEN else "visible",
                )
            )
        else:
            sections.setdefault(section, []).append(
                st.Page(auth.refuse_ui, title=title, url_path=url, visibility="hidden")
            )
    auth.sidebar_ui(user)
    st.navigation(sections).run()
