"""`ostinato report`: one static HTML page (index.html + PNGs) describing an analysed corpus.

Each section is one aggregate (``aggregates.py``, SQL in DuckDB) drawn by ``plots.py``; a section whose
columns are still empty shows a note saying so instead of a chart.
"""

from __future__ import annotations

import datetime
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ostinato import __version__, schema
from ostinato.report import aggregates as agg
from ostinato.report import plots
from ostinato.theory.pitch import KEY_TONIC_ORDER

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
section { margin: 2rem 0; border-top: 1px solid #ddd; }
img { max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9rem; }
td, th { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; text-align: left; }
.note { color: #8a5a00; background: #fff6e0; padding: 0.5rem; }
"""


@dataclass
class Section:
    """One titled part of the page: charts (PNG names in the report folder), a table, or a note."""

    key: str
    title: str
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    table: pd.DataFrame | None = None
    note: str | None = None


def _table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, escape=True)


def _keys(con, out: Path) -> Section:
    counts = agg.key_mode_counts(con)
    if counts.empty:
        return Section("keys", "Key and mode", note="No track has a key yet.")
    plots.key_mode_chart(counts, out / "keys.png", pitch_order=KEY_TONIC_ORDER)
    return Section("keys", "Key and mode", images=[("keys.png", "tracks per key and mode")])


def _histogram_section(con, out: Path, key: str, title: str,
                       charts: list[tuple[str, str, str]]) -> Section:
    """``charts``: (column expression, x label, file stem) for each histogram in the section."""
    section = Section(key, title)
    missing = []
    for expression, label, stem in charts:
        hist = agg.histogram(con, expression)
        if hist.empty:
            missing.append(label)
            continue
        plots.histogram_chart(hist, out / f"{stem}.png", title=label, xlabel=label)
        section.images.append((f"{stem}.png", f"histogram of {label}"))
    if missing:
        section.note = f"No values yet for: {', '.join(missing)}."
    return section


def _transitions(con, out: Path) -> Section:
    matrix = agg.chord_transitions(con)
    title = "Chord transitions"
    if matrix.empty:
        return Section("transitions", title, note="No Roman-numeral analysis with two or more chords yet.")
    plots.transition_heatmap(matrix, out / "transitions.png")
    return Section("transitions", title, images=[("transitions.png", "chord transition heatmap")])


def _progressions(con, out: Path) -> Section:
    top = agg.top_progressions(con)
    title = "Most common progressions"
    if top.empty:
        return Section("progressions", title, note="No named progressions found yet (the theory stage fills them).")
    labels = [f"{f} ({n})" if n else f for f, n in zip(top["figures"], top["name"], strict=True)]
    plots.bar_chart(labels, top["n"].tolist(), out / "progressions.png", title=title, xlabel="occurrences",
                    horizontal=True)
    return Section("progressions", title, images=[("progressions.png", "most common progressions")], table=top)


def _cadences(con, out: Path) -> Section:
    counts = agg.cadence_counts(con)
    title = "Cadences"
    if counts.empty:
        return Section("cadences", title, note="No cadences found yet (the theory stage fills them).")
    plots.bar_chart(counts["type"].tolist(), counts["n"].tolist(), out / "cadences.png", title=title,
                    xlabel="occurrences")
    return Section("cadences", title, images=[("cadences.png", "cadence types")], table=counts)


def _genres(con, out: Path) -> Section:
    shares = agg.genre_shares(con)
    title = "Genres"
    if shares.empty:
        return Section("genres", title, note="No track has a genre yet.")
    plots.bar_chart(shares["genre"].tolist(), (100 * shares["share"]).tolist(), out / "genres.png",
                    title="Genre shares", xlabel="% of tracks with a genre", horizontal=True)
    return Section("genres", title, images=[("genres.png", "genre shares")])


def _stages(con, out: Path) -> Section:
    timings = agg.stage_timings(con, schema.STAGES)
    title = "Stage timings"
    if timings.empty:
        return Section("stages", title, note="No stage timings recorded.")
    plots.stage_chart(timings, out / "stages.png")
    return Section("stages", title, images=[("stages.png", "seconds per stage")], table=timings)


def _errors(con, out: Path) -> Section:
    reasons = agg.error_reasons(con)
    title = "Errors"
    if reasons.empty:
        return Section("errors", title, note="No error rows: every input was analysed.")
    by_stage = reasons.groupby("stage", sort=False)["n"].sum()
    plots.bar_chart(list(by_stage.index), by_stage.tolist(), out / "errors.png", title="Error rows by stage",
                    xlabel="rows")
    return Section("errors", title, images=[("errors.png", "error rows by stage")], table=reasons)


def _render(sections: list[Section], *, title: str, overview: dict[str, float], source: str) -> str:
    hours = overview["audio_hours"]
    audio = f"{hours:,.1f} hours" if hours >= 1 else f"{hours * 60:.1f} minutes"
    facts = (f"{overview['tracks']:,} rows ({overview['ok']:,} ok, {overview['errors']:,} errors), "
             f"{audio} of audio, {overview['aliases']:,} duplicate paths, "
             f"{overview['worker_nodes']} worker node(s)")
    made = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p>{html.escape(source)}: {html.escape(facts)}.</p>",
             f"<p><small>ostinato {__version__}, {made}</small></p>",
             "<nav>" + " · ".join(f"<a href='#{s.key}'>{html.escape(s.title)}</a>" for s in sections) + "</nav>"]
    for s in sections:
        parts.append(f"<section id='{s.key}'><h2>{html.escape(s.title)}</h2>")
        if s.note:
            parts.append(f"<p class='note'>{html.escape(s.note)}</p>")
        parts += [f"<img src='{html.escape(name)}' alt='{html.escape(alt)}'>" for name, alt in s.images]
        if s.table is not None and not s.table.empty:
            parts.append(_table_html(s.table))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(con: duckdb.DuckDBPyConnection, out: str | os.PathLike[str], *, source: str = "",
                 title: str = "ostinato corpus report") -> Path:
    """Write ``out/index.html`` and its PNG charts for the features open in ``con``; returns the page's path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    sections = [
        _keys(con, folder),
        _histogram_section(con, folder, "tempo", "Tempo", [("tempo_bpm", "tempo (BPM)", "bpm")]),
        _transitions(con, folder),
        _progressions(con, folder),
        _cadences(con, folder),
        _histogram_section(con, folder, "harmony", "Harmonic rhythm and complexity", [
            ("harmonic_rhythm", "harmonic rhythm (chord changes per bar)", "harmonic_rhythm"),
            ("harmonic_complexity", "harmonic complexity (0-1)", "harmonic_complexity"),
        ]),
        _genres(con, folder),
        _histogram_section(con, folder, "loudness", "Loudness", [
            ("loudness_lufs", "integrated loudness (LUFS)", "loudness"),
            ("loudness_range_lu", "loudness range (LU)", "loudness_range"),
        ]),
        _stages(con, folder),
        _errors(con, folder),
    ]
    page = folder / "index.html"
    page.write_text(_render(sections, title=title, overview=agg.overview(con), source=source), encoding="utf-8")
    return page
