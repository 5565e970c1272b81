"""The pilot report's charts (Altair, shared by the Report page and the file) and the offline HTML file:
one self-contained page, the charts inlined as SVG rendered by vl-convert, no script, no external font.

`charts(report)` → {name: altair.Chart}; `report_html(report)` → the HTML text. `report` is the dict of
store/report.py's `report_data` (its JSON form).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import altair as alt
import pandas as pd
import vl_convert

PROGRESS = ("untouched", "in progress", "submitted", "accepted", "final")
PROGRESS_COLORS = ("#ced4da", "#ffd43b", "#74c0fc", "#40c057", "#2b8a3e")
WIDTH = 560


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ci(ci: Any, digits: int = 3) -> str:
    return f"[{_fmt(ci[0], digits)}, {_fmt(ci[1], digits)}]" if ci else "–"


def _round(value: float | None, digits: int) -> float | None:
    """A table's number rounded for reading (the report's data keeps every digit)."""
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


# ---------------------------------------------------------------- tables (shared with the page)


def progress_table(report: dict[str, Any]) -> pd.DataFrame:
    p = report["progress"]
    return pd.DataFrame({"state": list(PROGRESS), "items": [p.get(s, 0) for s in PROGRESS]})


def agreement_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"criterion": r["criterion"], "level": r["level"], "alpha": _round(r["alpha"], 3),
         "alpha 95% CI": _ci(r["ci"]) if r["level"] != "ranking" else "–",
         "tau-b": _round(r["tau"], 3), "tau 95% CI": _ci(r["ci"]) if r["level"] == "ranking" else "–",
         "% agreement": None if r["percent"] is None else round(100 * r["percent"], 1), "items": r["items"]}
        for r in report["agreement"]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["criterion", "level", "alpha", "alpha 95% CI", "tau-b", "tau 95% CI",
                                       "% agreement", "items"])  # fmt: skip


def pairs_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"model A": r["a"], "model B": r["b"], "A wins": r["wins"], "ties": r["ties"], "A losses": r["losses"],
         "A win rate": _round(r["win_rate"], 3), "95% CI": _ci(r["ci"])}
        for r in report["models"]["pairs"]
    ]  # fmt: skip
    return pd.DataFrame(
        rows, columns=["model A", "model B", "A wins", "ties", "A losses", "A win rate", "95% CI"]
    )


def leaderboard_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"rank": i + 1, "model": r["model"], "strength": _round(r["strength"], 1), "95% CI": _ci(r["ci"], 1),
         "comparisons": r["comparisons"]}
        for i, r in enumerate(report["models"]["leaderboard"])
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["rank", "model", "strength", "95% CI", "comparisons"])


def scores_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"criterion": r["criterion"], "model": r["model"], "mean": _round(r["mean"], 2), "95% CI": _ci(r["ci"], 2),
         "n": r["n"]}
        for r in report["models"]["scores"]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["criterion", "model", "mean", "95% CI", "n"])


def annotators_table(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"annotator": a["annotator"], "submitted": a["submitted"], "accepted %": round(100 * a["accepted"], 1),
         "rejected %": round(100 * a["rejected"], 1), "median active s / item": _round(a["median_seconds"], 1),
         "items / hour": _round(a["items_per_hour"], 1), "submissions / day": _round(a["per_day"], 2),
         "agreement with others %": None if a.get("agreement") is None else round(100 * a["agreement"], 1)}
        for a in report["annotators"]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["annotator", "submitted", "accepted %", "rejected %",
                                       "median active s / item", "items / hour", "submissions / day",
                                       "agreement with others %"])  # fmt: skip


# ---------------------------------------------------------------- charts


def _count_axis(top: int) -> alt.Axis:
    """An axis of counts: whole numbers only (with a few items Vega would put ticks at 0.5 and print 0, 1, 1)."""
    if top <= 10:
        return alt.Axis(format="d", values=list(range(top + 1)))
    return alt.Axis(format="~s", tickMinStep=1)


def progress_chart(report: dict[str, Any]) -> alt.Chart | None:
    data = progress_table(report)
    if not data["items"].sum():
        return None
    return (
        alt.Chart(data, title="Items by progress")
        .mark_bar()
        .encode(
            x=alt.X("items:Q", title="items", axis=_count_axis(int(data["items"].max()))),
            y=alt.Y("state:N", sort=list(PROGRESS), title=None),
            color=alt.Color(
                "state:N", scale=alt.Scale(domain=list(PROGRESS), range=list(PROGRESS_COLORS)), legend=None
            ),
            tooltip=["state", "items"],
        )  # fmt: skip
        .properties(width=WIDTH, height=150)
    )


def submissions_chart(report: dict[str, Any]) -> alt.Chart | None:
    per_day = report["progress"].get("per_day") or {}
    if not per_day:
        return None
    data = pd.DataFrame({"day": list(per_day), "submissions": list(per_day.values())})
    return (
        alt.Chart(data, title="Submissions per day")
        .mark_bar(color="#4c6ef5")
        .encode(
            x=alt.X("day:O", title=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("submissions:Q", axis=_count_axis(max(per_day.values()))),
            tooltip=["day", "submissions"],
        )
        .properties(width=WIDTH, height=180)
    )


def leaderboard_chart(report: dict[str, Any]) -> alt.Chart | None:
    board = report["models"]["leaderboard"]
    if not board:
        return None
    rows = [
        {"model": r["model"], "strength": _round(r["strength"], 1),
         "low": (r["ci"] or [r["strength"]] * 2)[0], "high": (r["ci"] or [r["strength"]] * 2)[1]}
        for r in board
    ]  # fmt: skip
    data = pd.DataFrame(rows)
    order = [r["model"] for r in board]
    y = alt.Y("model:N", sort=order, title=None)
    scale = alt.Scale(zero=False)
    base = alt.Chart(data, title="Leaderboard: Bradley–Terry strength, 95 % interval")
    bars = base.mark_rule(strokeWidth=2, color="#495057").encode(
        x=alt.X("low:Q", scale=scale, title="strength (1000 = the average model; +400 = 10:1 odds)"),
        x2="high:Q",
        y=y,
    )
    points = base.mark_point(filled=True, size=90, color="#e8590c").encode(
        x=alt.X("strength:Q", scale=scale), y=y, tooltip=["model", "strength", "low", "high"]
    )
    return (bars + points).properties(width=WIDTH, height=max(60, 36 * len(rows)))


def winrate_chart(report: dict[str, Any]) -> alt.Chart | None:
    pairs = report["models"]["pairs"]
    if not pairs:
        return None
    rows = []
    for r in pairs:
        rows.append({"model": r["a"], "opponent": r["b"], "win rate": r["win_rate"], "n": r["n"]})
        rows.append({"model": r["b"], "opponent": r["a"], "win rate": 1 - r["win_rate"], "n": r["n"]})
    data = pd.DataFrame(rows)
    order = [r["model"] for r in report["models"]["leaderboard"]]
    base = alt.Chart(data, title=alt.Title("Win rate, row vs column", subtitle="ties count half"))
    cells = base.mark_rect().encode(
        x=alt.X("opponent:N", sort=order, title="opponent"),
        y=alt.Y("model:N", sort=order, title="model"),
        color=alt.Color("win rate:Q", scale=alt.Scale(scheme="redblue", domain=[0, 1]), title="win rate"),
        tooltip=["model", "opponent", alt.Tooltip("win rate:Q", format=".3f"), "n"],
    )
    text = base.mark_text(fontSize=13).encode(
        x=alt.X("opponent:N", sort=order), y=alt.Y("model:N", sort=order),
        text=alt.Text("win rate:Q", format=".2f"),
    )  # fmt: skip
    side = max(120, 60 * len(order))
    return (cells + text).properties(width=side, height=side)


def agreement_chart(report: dict[str, Any]) -> alt.Chart | None:
    rows = [
        {"criterion": r["criterion"], "value": r["alpha"] if r["level"] != "ranking" else r["tau"],
         "measure": "Kendall τ-b" if r["level"] == "ranking" else f"α ({r['level']})",
         "low": (r["ci"] or [None, None])[0], "high": (r["ci"] or [None, None])[1]}
        for r in report["agreement"]
    ]  # fmt: skip
    rows = [r for r in rows if r["value"] is not None]
    if not rows:
        return None
    data = pd.DataFrame(rows)
    # the axis starts at the lowest value or interval end shown (α can be negative), at 0 at the most
    low = min([0.0, *(float(v) for v in data[["value", "low"]].min() if v == v)])
    base = alt.Chart(data, title="Agreement per criterion, 95 % bootstrap interval")
    y = alt.Y("criterion:N", sort=None, title=None)
    bars = base.mark_bar(color="#74c0fc").encode(
        x=alt.X("value:Q", scale=alt.Scale(domain=[low, 1], clamp=True), title="α / τ-b"),
        y=y,
        tooltip=["criterion", "measure", alt.Tooltip("value:Q", format=".3f"), "low", "high"],
    )
    rules = base.mark_rule(color="#1c3d5a", strokeWidth=2).encode(x="low:Q", x2="high:Q", y=y)
    return (bars + rules).properties(width=WIDTH, height=max(60, 30 * len(rows)))


def charts(report: dict[str, Any]) -> dict[str, alt.Chart]:
    """The report's charts by name (those with data)."""
    made = {
        "progress": progress_chart(report),
        "submissions": submissions_chart(report),
        "agreement": agreement_chart(report),
        "leaderboard": leaderboard_chart(report),
        "winrate": winrate_chart(report),
    }
    return {name: chart for name, chart in made.items() if chart is not None}


# ---------------------------------------------------------------- the file


def svg(chart: alt.Chart) -> str:
    """The chart as inline SVG (vl-convert renders the Vega-Lite spec; no browser, no network)."""
    return vl_convert.vegalite_to_svg(chart.to_dict())


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p class='none'>Nothing to show for this selection.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
    return _fmt(value)


def _figure(name: str, made: dict[str, alt.Chart]) -> str:
    chart = made.get(name)
    return f"<figure class='chart' data-chart='{name}'>{svg(chart)}</figure>" if chart is not None else ""


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in pairs) + "</dl>"


def progress_note(report: dict[str, Any]) -> str | None:
    """What the progress counts cover when the annotator or date filters narrow them (None: everything)."""
    f = report.get("filters") or {}
    if not (f.get("annotators") or f.get("since") or f.get("until")):
        return None
    return (
        "Progress counts only the selected annotators' work on the selected days: an item none of it "
        "touched shows as untouched."
    )


def progress_facts(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The progress figures as (label, text) pairs (the page shows them as metrics)."""
    p = report["progress"]
    done = p["items"] - p["untouched"] - p["in progress"]
    return [
        ("Items", _fmt(p["items"])),
        ("Items submitted", f"{_fmt(done)} · {_pct(done / p['items'] if p['items'] else None)}"),
        (f"Submissions needed (overlap {p['overlap']})", _fmt(p["submissions_needed"])),
        ("Pace", "–" if p.get("pace_per_day") is None else f"{p['pace_per_day']:,.1f} / day"),
        ("Estimated finish", p.get("finish") or "–"),
    ]


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#212529;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #e9ecef;padding-bottom:.3rem;margin-top:2.2rem}
.meta{color:#6c757d;margin-top:0}table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:.3rem .6rem;text-align:left}th{background:#f1f3f5}
td{font-variant-numeric:tabular-nums}figure.chart{margin:1rem 0}figure.chart svg{max-width:100%;height:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.none{color:#6c757d}
"""


def report_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG only)."""
    made = charts(report)
    f = report.get("filters") or {}
    who = ", ".join(f.get("annotators") or []) or "everyone"
    span = f"{f.get('since') or 'start'} – {f.get('until') or 'now'}"
    by = report["models"].get("by") or {}
    splits = "".join(
        f"<h3>By {html.escape(question)}: {html.escape(str(answer))}</h3>"
        + _table(leaderboard_table({"models": {"leaderboard": board}}))
        for question, answers in by.items()
        for answer, board in answers.items()
    )
    judge = report["models"].get("judge") or []
    judge_html = (
        "<h3>LLM judge against the humans' consensus</h3>"
        + _table(
            pd.DataFrame(
                [
                    {
                        "judge": j["judge"],
                        "criterion": j["criterion"],
                        "items": j["items"],
                        "agreement %": None if j["percent"] is None else 100 * j["percent"],
                        "alpha": j["alpha"],
                    }
                    for j in judge
                ]
            )
        )  # fmt: skip
        if judge
        else ""
    )
    title = f"Pilot report: {report['dataset']}"
    note = f"<p class='meta'>{html.escape(text)}</p>" if (text := progress_note(report)) else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Generated {html.escape(str(report.get("generated_at", "")))} · status {html.escape(str(f.get("status")))}
 · annotators: {html.escape(who)} · changed {html.escape(span)}</p>
<section id="progress"><h2>Progress</h2>{_facts(progress_facts(report))}{note}
{_figure("progress", made)}{_figure("submissions", made)}</section>
<section id="agreement"><h2>Agreement</h2>
<p>Over items with two or more selected annotations: Krippendorff's α at the criterion's level, Kendall's τ-b
for rankings, raw % agreement, 95 % bootstrap intervals over items.</p>
{_figure("agreement", made)}{_table(agreement_table(report))}</section>
<section id="models"><h2>Models</h2>
{_figure("leaderboard", made)}{_table(leaderboard_table(report))}
{_figure("winrate", made)}<h3>Head to head</h3>{_table(pairs_table(report))}
<h3>Mean scores</h3>{_table(scores_table(report))}{splits}{judge_html}</section>
<section id="annotators"><h2>Annotators</h2>{_table(annotators_table(report))}</section>
</body></html>
"""
