"""Print what `ostinato analyze` found in the demo corpus beside the truth it was synthesised from.

Usage: python scripts/show_demo.py DEMO_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from ostinato.analysis.tonal import PITCH_CLASSES


def chord_agreement(found: list[dict], truth: list[dict]) -> float:
    """Share of the truth's duration where the found chord has the true root and quality (sampled every 50 ms)."""
    end = truth[-1]["end_s"]
    hits = total = 0
    t = 0.0
    while t < end:
        want = next(c for c in truth if c["start_s"] <= t < c["end_s"])
        got = next((c for c in found if c["start_s"] <= t < c["end_s"]), None)
        hits += got is not None and (got["root_pc"], got["quality"]) == (want["root_pc"], want["quality"])
        total += 1
        t += 0.05
    return hits / total if total else 0.0


def main(demo: Path, out: Path) -> None:
    truth = {t["file"]: t for t in json.loads((demo / "truth.json").read_text())["tracks"]}
    rows = duckdb.sql(
        f"SELECT path, status, key, mode, tempo_bpm, meter, chords, roman FROM '{out}/tracks/*.parquet' ORDER BY path"
    ).fetchall()
    table = Table(title="demo corpus: detected (truth)")
    for column in ("file", "key", "tempo", "meter", "chords right", "first Roman numerals (truth)"):
        table.add_column(column)
    for path, status, key, mode, bpm, meter, chords, roman in rows:
        t = truth[Path(path).name]
        if status != "ok":
            table.add_row(Path(path).name, status, "", "", "", "")
            continue
        key_ok = (PITCH_CLASSES.index(key), mode) == (t["tonic_pc"], t["mode"])
        mark = "[green]" if key_ok else "[red]"
        table.add_row(
            Path(path).name,
            f"{mark}{key} {mode}[/] ({t['key']} {t['mode']})",
            f"{bpm:.1f} ({t['bpm']:.0f})",
            f"{meter} ({t['meter']})",
            f"{chord_agreement(chords, t['chords']):.0%}",
            f"{' '.join(r['figure'] for r in roman[:4])} ({' '.join(t['progression'][:4])})",
        )
    Console().print(table)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
