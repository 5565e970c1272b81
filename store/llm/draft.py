"""Draft with a model (the Respond page): the item's dialogue goes to one model and its reply streams back."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session

from core.llm.chat import chat_messages, image_url
from store.access import visible_item
from store.llm import calls
from store.llm.endpoints import get_model
from store.models import Asset, User


def draft_reply(
    *, session: Session, user: User, item_id: int, model: str, role: str = "bot"
) -> Iterator[str]:
    """The model's reply to the item's dialogue as `role` ("bot", or "user": the user's next turn), as it
    streams. Any signed-in user who may see the item may draft; the session is not used while streaming."""
    item = visible_item(session=session, user=user, item_id=item_id)
    endpoint = get_model(session=session, name=model)
    session.expunge(endpoint)
    calls.api_key(endpoint)  # a missing key is reported before anything streams

    def image(asset_id: str) -> str | None:
        from store.blobs import get_blob_store

        asset = session.get(Asset, asset_id)
        return image_url(get_blob_store().get(asset_id), asset.mime) if asset else None

    messages = chat_messages(
        list(item.messages or []),
        system=endpoint.system,
        image=image if endpoint.vision else None,
        as_role=role,
    )
    return calls.stream(endpoint, messages, calls.policy_from_env())
