"""Rhythm theory with known answers: LHL weights and syncopation, swing, polyrhythm, hierarchy, complexity."""

import numpy as np
import pytest

from ostinato.analysis.rhythm import track_beats
from ostinato.analysis.spectral import compute_frame_features
from ostinato.errors import AnalysisError
from ostinato.testing import grooves
from ostinato.theory.meter import METERS
from ostinato.theory.rhythm import Onsets, RhythmProfile, describe_rhythm, rhythm_from_envelopes
from ostinato.theory.syncopation import lhl_syncopation, metrical_weights

SR = 22050


def _profile(g: grooves.Groove, *, stems: bool) -> RhythmProfile:
    """Beats from the mix; onsets from each voice alone (as separated stems) or from the mix."""
    f = compute_frame_features(g.y, sr=SR)
    bt = track_beats(onset_envelope=f.onset_envelope, sr=SR, hop_length=f.hop_length, rms=f.rms, chroma=f.chroma)
    if stems:
        envelopes = {k: compute_frame_features(v, sr=SR).onset_envelope for k, v in g.voices.items()}
    else:
        envelopes = {"mix": f.onset_envelope}
    return rhythm_from_envelopes(beats=bt, onset_envelopes=envelopes, sr=SR, hop_length=f.hop_length,
                                 duration_s=len(g.y) / SR)


def test_metrical_weights_follow_the_meter():
    assert metrical_weights("4/4").tolist() == [0, -4, -3, -4, -2, -4, -3, -4, -1, -4, -3, -4, -2, -4, -3, -4]
    assert metrical_weights("3/4").tolist() == [0, -3, -2, -3, -1, -3, -2, -3, -1, -3, -2, -3]
    assert metrical_weights("6/8").tolist() == [0, -3, -2, -3, -2, -3, -1, -3, -2, -3, -2, -3]
    with pytest.raises(AnalysisError):
        metrical_weights("7/8")


def test_lhl_values_by_hand():
    w = metrical_weights("4/4")
    # Tresillo 3-3-2 plus a pushed fourth note: notes on 3 (-4, rest on beat 2 = -2: +2), 6 (-3, rest on the
    # half bar = -1: +2), 10 (-3, rest on beat 4 = -2: +1), 14 (-3, followed by the next downbeat note: 0).
    assert lhl_syncopation([grooves.SYNCOPATED] * 2, w).tolist() == [5.0, 5.0]
    assert lhl_syncopation([grooves.ON_BEAT] * 2, w).tolist() == [0.0, 0.0]
    anticipation = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]  # the next downbeat is tied over: 0 - (-3)
    assert lhl_syncopation([anticipation, [0] * 16], w).tolist() == [3.0, 0.0]


def test_syncopated_bass_is_more_syncopated_than_on_beat_bass():
    on = _profile(grooves.pattern_groove(grooves.ON_BEAT, bpm=110, bars=8, sr=SR), stems=True)
    off = _profile(grooves.pattern_groove(grooves.SYNCOPATED, bpm=110, bars=8, sr=SR), stems=True)
    assert on.syncopation == pytest.approx(0.0, abs=0.2)
    assert off.syncopation == pytest.approx(5.0, abs=0.5)
    assert off.complexity > on.complexity


@pytest.mark.parametrize("stems", [True, False])
def test_swing_ratio(stems):
    straight = _profile(grooves.swing_groove(bpm=120, bars=8, sr=SR, ratio=1.0), stems=stems)
    swung = _profile(grooves.swing_groove(bpm=120, bars=8, sr=SR, ratio=2.0), stems=stems)
    assert straight.swing_ratio == pytest.approx(1.0, abs=0.12)
    assert swung.swing_ratio == pytest.approx(2.0, abs=0.2)


@pytest.mark.parametrize("stems", [True, False])
def test_three_against_two(stems):
    poly = _profile(grooves.polyrhythm_groove(bpm=100, bars=8, sr=SR, a=3, b=2), stems=stems)
    assert poly.polyrhythm == "3:2"
    assert poly.polyrhythm_confidence >= 0.7
    plain = _profile(grooves.meter_groove("4/4", bpm=100, bars=8, sr=SR), stems=stems)
    assert plain.polyrhythm is None and plain.polyrhythm_confidence == 0.0
    assert poly.complexity > plain.complexity


def test_compound_meter_is_not_a_polyrhythm_and_has_no_swing():
    p = _profile(grooves.meter_groove("6/8", bpm=66, bars=8, sr=SR), stems=True)
    assert p.polyrhythm is None and p.swing_ratio is None
    assert len(p.metric_hierarchy) == 2


@pytest.mark.parametrize("meter", ["3/4", "4/4"])
def test_metric_hierarchy_peaks_on_the_downbeat(meter):
    p = _profile(grooves.meter_groove(meter, bpm=110, bars=8, sr=SR), stems=False)
    bpb = METERS[meter].beats_per_bar
    assert len(p.metric_hierarchy) == bpb
    assert p.metric_hierarchy[0] == 1.0 and max(p.metric_hierarchy[1:]) < 0.7


def test_note_density_counts_distinct_onsets():
    # Hi-hat on every beat and the on-beat bass: the same 4 events per bar in two voices.
    g = grooves.pattern_groove(grooves.ON_BEAT, bpm=120, bars=8, sr=SR)
    p = _profile(g, stems=True)
    seconds = len(g.y) / SR
    assert p.note_density == pytest.approx(32 / seconds, rel=0.1)
    assert p.voice_density["bass"] == pytest.approx(32 / seconds, rel=0.1)


def test_no_beats_gives_empty_but_defined_profile():
    p = describe_rhythm(
        beat_times=np.zeros(0), downbeat_times=np.zeros(0), beats_per_bar=4, meter="4/4", meter_confidence=0.0,
        voices={"mix": Onsets(np.array([1.0, 2.0]), np.array([1.0, 1.0]))}, duration_s=4.0,
    )
    assert p.metric_hierarchy == [] and p.syncopation is None and p.swing_ratio is None
    assert p.note_density == pytest.approx(0.5)
    assert 0.0 <= p.complexity <= 1.0
    with pytest.raises(AnalysisError):
        Onsets(np.zeros(3), np.zeros(2))


def test_theory_stage_reads_the_present_stems(tmp_path):
    # The real describe stage, fed the StemAccumulator's output for the groove's voices as separated stems:
    # the bass line's syncopation is seen through its stem, and is hidden in the mix by the hi-hat on every beat.
    from ostinato.analysis.stems import StemAccumulator
    from ostinato.config import load_config
    from ostinato.demo.encode import write_wav
    from ostinato.pipelines import stages
    from ostinato.pipelines.inputs import InputFile

    g = grooves.pattern_groove(grooves.SYNCOPATED, bpm=110, bars=8, sr=SR)
    path = write_wav(g.y, sr=SR, path=tmp_path / "tresillo.wav")
    config = load_config(None, ["separation.enabled=false"])
    prepared, audio, _ = stages.prepare(InputFile(str(path), path.stat().st_size), config)
    silent = np.zeros_like(g.y)
    accumulator = StemAccumulator(["drums", "bass", "other", "vocals"], model_sr=SR, analysis_sr=SR, hop_length=512)
    accumulator.add(np.stack([g.voices["drums"], g.voices["bass"], silent, silent])[:, None, :])
    outcome = stages.SeparationOutcome("synthetic", accumulator.finish(), 0.0)
    with_stems = stages.describe(prepared, audio, config=config, stems=outcome)
    mix_only = stages.describe(prepared, audio, config=config)
    assert with_stems["syncopation"] == pytest.approx(5.0, abs=0.5)
    assert mix_only["syncopation"] < 1.0
    assert with_stems["rhythmic_complexity"] > mix_only["rhythmic_complexity"]
