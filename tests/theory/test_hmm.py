"""The one sticky Viterbi (chords and local keys) equals librosa's general Viterbi on the equivalent HMM."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from ostinato.theory.hmm import sticky_viterbi


@pytest.mark.parametrize(("n_states", "n_steps", "p_switch", "seed"), [(2, 50, 0.1, 0), (6, 200, 0.01, 1),
                                                                      (25, 300, 0.002, 2), (12, 1, 0.05, 3)])
def test_sticky_viterbi_equals_librosa_viterbi(n_states, n_steps, p_switch, seed):
    rng = np.random.default_rng(seed)
    prob = 0.999 * rng.random((n_states, n_steps)) ** 3 + 1e-3  # likelihoods in (0, 1], some clearly better
    # Stay with 1 - (n - 1) q, switch to each other state with q: the sticky HMM's switch cost is log(stay / q).
    q = p_switch / max(n_states - 1, 1)
    transition = np.full((n_states, n_states), q)
    np.fill_diagonal(transition, 1.0 - q * (n_states - 1))
    expected = librosa.sequence.viterbi(prob, transition, p_init=np.full(n_states, 1.0 / n_states))
    ours = sticky_viterbi(log_emission=np.log(prob), switch_cost=float(np.log(transition[0, 0] / q)))
    np.testing.assert_array_equal(ours, expected)


def test_a_higher_switch_cost_never_adds_changes():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(5, 400))
    changes = [int(np.count_nonzero(np.diff(sticky_viterbi(log_emission=scores, switch_cost=c))))
               for c in (0.0, 1.0, 4.0, 100.0)]
    assert changes == sorted(changes, reverse=True) and changes[-1] == 0
