"""The manifest written beside every export: what was exported, from where, with which filters, when."""

from __future__ import annotations

from typing import Any


def manifest(
    *,
    dataset: str,
    fmt: str,
    filters: dict[str, Any],
    ontology: dict[str, Any] | None,
    counts: dict[str, int],
    annotators: list[str],
    app_version: str,
    created_at: str,
    files: list[str],
) -> dict[str, Any]:
    return {
        "parley_export": 1,
        "app_version": app_version,
        "created_at": created_at,
        "dataset": dataset,
        "format": fmt,
        "files": files,
        "filters": filters,
        "counts": counts,
        "annotators": sorted(annotators),
        "ontology": ontology or {"classes": [], "classifications": []},
    }
