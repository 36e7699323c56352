"""The note's claims that a sweep decides: a gradient spike under Adam, and the decay-dominated
coupling measurement, whose value is a range over windows and initial values, not one number."""

import numpy as np

import symopt
from symopt.derive import coupling
from symopt.derive import derive


def test_the_spike_claim_is_contested_by_its_own_numbers():
    """At the spike the step is larger than typical (normalising bounds it, it does not shrink it);
    after the larger spike every window is smaller than typical. Status 'wrong' would need no window
    below typical anywhere in the sweep."""
    found = coupling.claim_spike([symopt.get("adam")])
    rows = found["table"].rows
    assert len(rows) == len(coupling.SPIKE_SIZES) * len(coupling.SPIKE_SEEDS)
    assert all(row[2] > 1 for row in rows)
    largest = [row for row in rows if row[0] == max(coupling.SPIKE_SIZES)]
    assert all(float(row[3].split(" to ")[1]) < 1 for row in largest)
    assert found["status"] == "contested"
    # the step at the spike grows with the spike (normalised by the root of a v-hat that holds it)
    by_size = {size: np.mean([row[2] for row in rows if row[0] == size]) for size in coupling.SPIKE_SIZES}
    assert by_size[max(by_size)] > by_size[min(by_size)]


def test_the_decay_dominated_measurement_is_a_range():
    """Outside the assumptions (decay 10x the gradient) Adam's measured value moves with the window and
    with theta0: the derivation reports the sweep, which holds the one-window value, and the derived
    headline lies outside it."""
    d = derive(symopt.get("adam"), "coupling")
    sweep = d.values["sweep"]
    headline = d.values["outside"][0].measured[0]
    for low, high in sweep.values():
        assert high / low > 1.2
    assert sweep["theta0"][0] <= headline * 1.5 and headline <= sweep["theta0"][1]
    assert d.values["outside"][0].derived[0] > max(high for _, high in sweep.values())
    assert "is a range" in "".join(str(p) for p in d.summary)


def test_the_notes_raw_threshold_is_the_frozen_preconditioner_steps_spectral_radius():
    """The note's 'at sqrt(vhat) = 0.01, eta*a must stay below ...': an independent witness, the
    spectral radius of Adam's linearised step with the preconditioner frozen (heavy-ball form, NumPy
    eigenvalues, bisection on a), crosses 1 at the number the note prints, and that number is below
    gradient descent's 2: small gradients make Adam less tolerant of sharpness, not more."""
    import re
    from pathlib import Path

    beta1, eps, root_v, eta = 0.9, 1e-8, 0.01, 1.0
    scale = root_v + eps

    def radius(a):
        # m_t = beta1 m + (1 - beta1) a theta;  theta_t = theta - eta m_t / scale
        step = np.array([[beta1, (1 - beta1) * a], [-eta * beta1 / scale, 1 - eta * (1 - beta1) * a / scale]])
        return max(abs(np.linalg.eigvals(step)))

    low, high = 1e-6, 100.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if radius(mid) < 1 else (low, mid)
    note = (Path(__file__).resolve().parents[1] / "derivations" / "optimization.md").read_text()
    printed = float(re.search(r"ηa must stay below\s+([0-9.e+-]+),", note).group(1))
    assert abs(eta * low / printed - 1) < 0.02  # printed to 2 significant digits
    assert printed < 2 and "where gradients are small Adam tolerates *less* sharpness" in note


def test_the_spike_numbers_are_the_hand_written_adams():
    """The same protocol with symopt.reference.adam (plain NumPy, written from torch's docs) in place of
    the rule's kernel gives the table's numbers for the largest spike, seed 0."""
    from symopt import reference

    size, seed, n = max(coupling.SPIKE_SIZES), 0, 200
    rng = np.random.default_rng((seed, 2))
    theta, state, sizes = np.zeros(n), {}, []
    horizon = 1000
    for t in range(1, coupling.SPIKE_AT + horizon + 1):
        g = np.full(n, size) if t == coupling.SPIKE_AT else rng.standard_normal(n)
        new, state = reference.adam(theta, g, state, t)
        sizes.append(float(np.abs(new - theta).mean()))
        theta = new
    typical = np.mean(sizes[coupling.SPIKE_AT - 1 - coupling.SPIKE_BEFORE:coupling.SPIKE_AT - 1])
    after = np.asarray(sizes[coupling.SPIKE_AT:]).reshape(-1, coupling.SPIKE_WINDOW).mean(axis=1)[1:] / typical
    found = coupling.spike(symopt.get("adam"), size, seed)
    assert abs(sizes[coupling.SPIKE_AT - 1] / typical / found["at"] - 1) < 1e-9
    np.testing.assert_allclose((after.min(), after.max()), found["after"], rtol=1e-9)
