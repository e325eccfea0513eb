"""`ostinato report`: SQL aggregates with known answers, PNG charts, and the page rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from ostinato import schema
from ostinato.features import open_features
from ostinato.report import aggregates as agg
from ostinato.report import build_report
from ostinato.testing.features import GENRES, synthetic_row, transition_counts, write_synthetic_features

N_TRACKS, ERROR_EVERY = 40, 8
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    write_synthetic_features(out, n=N_TRACKS, rows_per_shard=16, error_every=ERROR_EVERY)
    return out


@pytest.fixture(scope="module")
def report(features, tmp_path_factory):
    return build_report(open_features(features), tmp_path_factory.mktemp("report"), source=str(features))


def test_aggregates_match_the_rows(features):
    con = open_features(features)
    table = pads.dataset(features / schema.TRACKS_DIR, format="parquet").to_table()
    matrix = agg.chord_transitions(con)
    expected = transition_counts([table])
    assert {(a, b): int(matrix.loc[a, b]) for a in matrix.index for b in matrix.columns if matrix.loc[a, b]} == expected

    tempos = np.array([t for t in table.column("tempo_bpm").to_pylist() if t is not None])
    hist = agg.histogram(con, "tempo_bpm", bins=10)
    assert hist.counts.sum() == len(tempos)
    assert hist.edges[0] == pytest.approx(tempos.min()) and hist.edges[-1] == pytest.approx(tempos.max())
    assert hist.counts[0] == np.sum(tempos < hist.edges[1])

    ok = [i for i in range(N_TRACKS) if i % ERROR_EVERY != ERROR_EVERY - 1]
    shares = agg.genre_shares(con).set_index("genre")["n"].to_dict()
    assert shares == {g: sum(GENRES[i % 4] == g for i in ok) for g in GENRES}
    assert agg.overview(con)["errors"] == N_TRACKS // ERROR_EVERY


def test_error_reasons_collapse_numbers(tmp_path):
    rng = np.random.default_rng(0)
    rows = [synthetic_row(i, rng, error=True) for i in range(3)]
    for row, seconds in zip(rows, ("0.41", "0.12", "3"), strict=True):
        row["error"] = {"stage": "decode", "message": f"audio is {seconds} s long; decode.min_duration_s is 1.0 s"}
    (tmp_path / schema.TRACKS_DIR).mkdir()
    pq.write_table(schema.tracks_table(rows), tmp_path / schema.TRACKS_DIR / "part-0.parquet")
    reasons = agg.error_reasons(open_features(tmp_path))
    assert reasons[["stage", "reason", "n"]].values.tolist() == [
        ["decode", "audio is N s long; decode.min_duration_s is N s", 3]]


def test_report_writes_every_chart_as_png(report):
    html = report.read_text()
    images = re.findall(r"<img src='([^']+)'", html)
    assert len(images) >= 10
    for name in images:
        assert (report.parent / name).read_bytes()[:8] == PNG_MAGIC, name
    for section in ("keys", "tempo", "transitions", "progressions", "cadences", "harmony", "genres", "loudness",
                    "stages", "errors"):
        assert f"<section id='{section}'>" in html
    assert "axis" in html and "I-V-vi-IV" in html  # the progressions table


def test_empty_theory_columns_give_notes_not_errors(tmp_path):
    rng = np.random.default_rng(1)
    rows = [synthetic_row(i, rng) for i in range(4)]
    for row in rows:  # what the pipeline wrote before the theory stage filled these columns
        for column in ("progressions", "cadences", "genre", "harmonic_rhythm", "harmonic_complexity", "roman"):
            row.pop(column)
    (tmp_path / "f" / schema.TRACKS_DIR).mkdir(parents=True)
    pq.write_table(schema.tracks_table(rows), tmp_path / "f" / schema.TRACKS_DIR / "part-0.parquet")
    page = build_report(open_features(tmp_path / "f"), tmp_path / "report")
    html = page.read_text()
    assert "No cadences found yet" in html and "No named progressions" in html and "No track has a genre" in html
    assert "No error rows" in html and "No Roman-numeral analysis" in html
    assert "keys.png" in html and "bpm.png" in html

@pytest.mark.slow

def test_cli_report(features, tmp_path):
    run = subprocess.run([sys.executable, "-m", "ostinato.cli", "report", str(features), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "index.html").exists() and (tmp_path / "transitions.png").exists()


#: Marks each image with the width it loaded at (0 when broken) and lists the broken ones on <body>.
_IMAGE_PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  images.forEach(img => img.dataset.loadedWidth = String(img.naturalWidth));
  const broken = images.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.getAttribute("src"));
  document.body.dataset.images = String(images.length);
  document.body.dataset.brokenImages = broken.join(" ");
  if (broken.length) {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = "Charts that failed to load: " + broken.join(", ");
    document.body.prepend(note);
  }
});
</script>
"""

@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install chromium)")
def test_every_image_loads_in_headless_chromium(report, tmp_path):
    # A copy of the page beside it (same relative image paths) with a probe that records how each image loaded.
    probe = report.with_name("probe.html")
    probe.write_text(report.read_text().replace("</body>", _IMAGE_PROBE + "</body>"))
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    count = int(re.search(r'data-images="(\d+)"', body.group(0)).group(1))
    assert count == len(re.findall(r"<img ", report.read_text())) >= 10
    assert 'data-broken-images=""' in body.group(0), body.group(0)
    widths = [int(w) for w in re.findall(r'data-loaded-width="(\d+)"', dom)]
    assert len(widths) == count and min(widths) > 100
