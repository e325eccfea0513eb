"""The demo corpus a fresh install analyses: synthetic multi-instrument tracks at known keys, tempos, meters
and progressions, with their truth (``corpus``), the additive synthesiser that renders them (``synth``) and an
MP3 writer (``encode``). Shipped with the package because ``ostinato demo-corpus`` is a user command; the
test helpers in ``ostinato.testing`` build on it, never the reverse."""

from ostinato.demo.corpus import (
    INSTRUMENTS,
    MIX_PEAK,
    TRACK_SPECS,
    TRUTH_VERSION,
    ChordTruth,
    DemoCorpus,
    TrackSpec,
    TrackTruth,
    render_track,
    render_track_stems,
    write_demo_corpus,
)

__all__ = ["INSTRUMENTS", "MIX_PEAK", "TRACK_SPECS", "TRUTH_VERSION", "ChordTruth", "DemoCorpus", "TrackSpec",
           "TrackTruth", "render_track", "render_track_stems", "write_demo_corpus"]
