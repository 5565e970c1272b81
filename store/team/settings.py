"""A dataset's team settings: overlap, review (off / all / sample %), reject reasons."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import true
from sqlmodel import Session, select, update

from store.access import require_admin, visible_dataset
from store.errors import InputError
from store.models import Annotation, AuditEvent, Dataset, DatasetMember, Item, User

DEFAULT_REASONS = ["Wrong label", "Missed a reply", "Reason missing or unclear", "Not per the guidelines"]


@dataclass(frozen=True)
class TeamSettings:
    overlap: int | None  # None: every annotator who may open the dataset ("all")
    review: str  # "off" | "all" | "sample"
    sample: float  # percent, for review "sample"
    reject_reasons: tuple[str, ...]

    @property
    def overlap_text(self) -> str:
        return "all" if self.overlap is None else str(self.overlap)

    @property
    def review_text(self) -> str:
        return f"sample:{self.sample:g}" if self.review == "sample" else self.review


def parse_overlap(text: str | int) -> int | None:
    if str(text).strip().lower() == "all":
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"overlap {text!r}: a whole number from 1 to 100, or all") from None
    if not 1 <= value <= 100:
        raise InputError(f"overlap {value}: a whole number from 1 to 100, or all")
    return value


def parse_review(text: str) -> tuple[str, float]:
    text = str(text).strip().lower()
    if text in ("off", "all"):
        return text, 0.0 if text == "off" else 100.0
    if text.startswith("sample:"):
        try:
            percent = float(text.split(":", 1)[1].rstrip("%"))
        except ValueError:
            percent = -1
        if 0 < percent <= 100:
            return "sample", percent
    raise InputError(
        f"review {text!r}: off, all, or sample:P with P a percentage from 0 to 100 (e.g. sample:20)"
    )


def parse_reasons(text: str | list[str]) -> tuple[str, ...]:
    items = text.split(";") if isinstance(text, str) else list(text)
    reasons = tuple(dict.fromkeys(r.strip() for r in items if r and r.strip()))
    if any(len(r) > 200 for r in reasons):
        raise InputError("reject reasons: each at most 200 characters")
    return reasons


def team_settings(dataset: Dataset) -> TeamSettings:
    raw: dict[str, Any] = (dataset.settings or {}).get("team") or {}
    overlap = raw.get("overlap", 1)
    review, sample = parse_review(raw.get("review", "off"))
    reasons = raw.get("reject_reasons")
    return TeamSettings(
        overlap=None if overlap == "all" else int(overlap),
        review=review,
        sample=sample,
        reject_reasons=tuple(reasons) if reasons is not None else tuple(DEFAULT_REASONS),
    )


def overlap_of(*, session: Session, dataset: Dataset) -> int:
    """How many annotators must submit each item: the setting, or for "all" the annotators who may open it."""
    setting = team_settings(dataset).overlap
    if setting is not None:
        return setting
    query = select(User.id).where(User.role == "annotator", User.active == true())
    if dataset.restricted:
        query = query.join(DatasetMember, DatasetMember.user_id == User.id).where(
            DatasetMember.dataset_id == dataset.id
        )
    return max(1, len(session.exec(query).all()))


def configure_dataset(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    overlap: str | int | None = None,
    review: str | None = None,
    reject_reasons: str | list[str] | None = None,
) -> TeamSettings:
    """Change the team settings (admins only, audited); None leaves a setting as it is."""
    require_admin(user)
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    old = team_settings(dataset)
    team: dict[str, Any] = dict((dataset.settings or {}).get("team") or {})
    if overlap is not None:
        value = parse_overlap(overlap)
        team["overlap"] = "all" if value is None else value
    if review is not None:
        kind, percent = parse_review(review)
        team["review"] = f"sample:{percent:g}" if kind == "sample" else kind
    if reject_reasons is not None:
        team["reject_reasons"] = list(parse_reasons(reject_reasons))
    dataset.settings = {**(dataset.settings or {}), "team": team}
    session.add(dataset)
    new = team_settings(dataset)
    if new.overlap != old.overlap:
        # Which items still take annotators changes with the overlap: one statement over the dataset.
        limit = new.overlap
        session.execute(
            update(Item)
            .where(Item.dataset_id == dataset_id)
            .values(full=False if limit is None else Item.taken >= limit)
        )
    session.add(
        AuditEvent(
            user_id=user.id,
            dataset_id=dataset_id,
            action="dataset.team",
            detail={
                "overlap": new.overlap_text,
                "review": new.review_text,
                "reject_reasons": list(new.reject_reasons),
            },
        )
    )
    session.flush()
    return new


def wants_review(session: Session, annotation: Annotation) -> bool:
    """Does this submission go to the review stream? off: no; all: yes; sample:P: P % of submissions,
    chosen by a hash of the annotation and its round (the same answer however often it is asked)."""
    dataset = session.get(Dataset, annotation.dataset_id)
    settings = team_settings(dataset)
    if settings.review == "off":
        return False
    if settings.review == "all":
        return True
    digest = hashlib.sha256(f"{annotation.id}:{annotation.review_rounds}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10000 < settings.sample * 100
