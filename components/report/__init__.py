"""The Report page's pieces: the cached figures, the filters, and one drawing function per section.

filters = filters_ui(people, dataset_id=dataset.id, user=user)  # ReportFilters
report = cached_report(user.id, dataset.id, filters)
progress_ui(report, charts(report)); agreement_ui(...); models_ui(...); annotators_ui(report)
"""

from components.report.data import cached_report
from components.report.sections import (
    agreement_ui,
    annotators_ui,
    download_ui,
    filters_ui,
    models_ui,
    progress_ui,
)

__all__ = [
    "agreement_ui",
    "annotators_ui",
    "cached_report",
    "download_ui",
    "filters_ui",
    "models_ui",
    "progress_ui",
]
