"""The sticky Viterbi decoder that chord and key tracking share.

An HMM whose only transitions are "stay" and "switch to any other state" at one fixed cost has a Viterbi path
computable in O(n_states * n_steps) rather than O(n_states^2 * n_steps): at each step the best predecessor of a
switching state is the overall best state.
"""

from __future__ import annotations

import numpy as np


def sticky_viterbi(*, log_emission: np.ndarray, switch_cost: float) -> np.ndarray:
    """State per step maximising summed ``log_emission`` minus ``switch_cost`` per change of state.

    Parameters
    ----------
    log_emission : np.ndarray [shape=(n_states, n_steps)]
        Log-likelihood (or any additive score) of each state at each step.
    switch_cost : float >= 0
        Score paid per change of state: log(p_stay / p_switch_to_one_other) of the equivalent HMM.

    Returns
    -------
    np.ndarray [shape=(n_steps,), int64]
        The best path's state index per step.
    """
    n_states, n_steps = log_emission.shape
    total = np.asarray(log_emission[:, 0], dtype=np.float64).copy()
    back = np.empty((n_steps, n_states), dtype=np.int64)
    states = np.arange(n_states)
    for k in range(1, n_steps):
        best = int(np.argmax(total))
        switch = total[best] - switch_cost
        stay = total >= switch
        back[k] = np.where(stay, states, best)
        total = np.where(stay, total, switch) + log_emission[:, k]
    path = np.empty(n_steps, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for k in range(n_steps - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    return path
