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
