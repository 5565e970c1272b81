"""The Review page's pieces: the review stream (accept, reject, fix), adjudication, history.

onto = load_ontology(dataset.id)
shown = review_ui(user, dataset, onto)       # UnderReview | None
external_id = adjudicate_ui(user, dataset, onto)  # str | None
"""

from components.review.adjudicate import adjudicate_ui
from components.review.describe import Ontology, load_ontology
from components.review.stream import current_key, extra_key, review_ui

__all__ = ["Ontology", "adjudicate_ui", "current_key", "extra_key", "load_ontology", "review_ui"]
