"""Operations on whole tensors: their lowering, torch's bfloat16 rounding, and shapes a rule accepts."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symopt
from symopt import ops
from symopt.errors import SymoptError
from symopt.printing import latex
from symopt.strategies import matrix_shapes, shapes

QUINTIC = (3.4445, -4.7750, 2.0315)


def matrices(shape, low=1e-3, high=1e3):
    values = st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 1e-3)
    return st.tuples(hnp.arrays(np.float64, shape, elements=values), st.floats(np.log10(low), np.log10(high))) \
        .map(lambda p: p[0] * 10.0 ** p[1])


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 64), elements=st.floats(width=32, allow_nan=False)))
def test_bfloat16_rounding_is_torchs(torch, values):
    """Round to nearest even on the float32 bits, as torch's Tensor.bfloat16() (ties, overflow to inf)."""
    expected = torch.tensor(values).bfloat16().float().numpy()
    assert np.array_equal(ops.bfloat16(values), expected)


@settings(max_examples=40, deadline=None)
@given(matrix_shapes().flatmap(lambda s: st.one_of(matrices(s), dyadic_matrices(s))), st.integers(1, 6))
def test_rounded_newton_schulz_is_torchs_bit_for_bit_away_from_ties(torch, x, steps):
    """Bit for bit, unless a value lies within float32 accumulation error of a bfloat16 tie, where
    torch's BLAS and NumPy may round either way: the case Bfloat16Tie flags (and verify excuses)."""
    from torch.optim._muon import _zeropower_via_newtonschulz

    expected = _zeropower_via_newtonschulz(torch.tensor(x), QUINTIC, steps, 1e-7).float().numpy()
    got = ops.newton_schulz(x, *QUINTIC, steps, 1e-7, rounding="bfloat16")
    flagged = ops._near_bfloat16_tie(x, np.abs(x), 2.0**-53, *QUINTIC, steps, 1e-7) == np.inf
    assert np.array_equal(got, expected) or flagged


def dyadic_matrices(shape):
    """Small dyadic values, which land on bfloat16 ties (Hypothesis draws such values often)."""
    return hnp.arrays(np.float64, shape, elements=st.integers(-16, 16).map(lambda v: v / 8))


@settings(max_examples=25, deadline=None)
@given(matrix_shapes().flatmap(matrices))
def test_one_lowered_step_is_the_tables_matrix_algebra(x):
    """The lowering (on the wide orientation, after normalising) against one step written with the
    table's Dot and T, evaluated through the same table's lowerings: two compositions of one step."""
    X, a, b, c = sp.symbols("X a b c")
    step = sp.lambdify([X, a, b, c], ops.newton_schulz_step(X, a, b, c), modules=[ops.namespace(), "numpy"])
    start = x / np.linalg.norm(x)
    expected = step(start, *QUINTIC)
    got = ops.newton_schulz(x, *QUINTIC, 1, 1e-7)
    assert np.allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_matrix_notation_comes_from_the_table():
    X = sp.Symbol("X")
    assert latex(ops.newton_schulz_step(X, 1, 1, 1)) == r"X + X X^{\top} X + X X^{\top} X X^{\top} X"
    assert r"\operatorname{NS}_{k}\left(\tilde{B}_{t}\right)" in symopt.get("muon").latex()
    assert r"\left\| \theta_{t-1} \right\|_{F}" in symopt.get("adafactor").latex()


@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4)])
def test_muon_refuses_what_is_not_a_matrix_naming_the_shape(shape):
    kernel = symopt.get("muon").kernel()
    with pytest.raises(SymoptError, match=rf"muon takes 2-D parameters \(matrices\), not shape {re_shape(shape)}"):
        kernel.init(np.ones(shape))
    with pytest.raises(SymoptError, match="not shape"):
        kernel.step(np.ones(shape), np.ones(shape), {"b": np.zeros(shape)}, 1)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_a_factored_state_of_the_wrong_shape_is_named():
    kernel = symopt.get("adafactor").kernel()
    params = np.ones((3, 4))
    state = kernel.init(params) | {"row_var": np.zeros((3, 4))}
    with pytest.raises(SymoptError, match=r"state\[.row_var.\] has shape \(3, 4\) but .*\(it must be \(3, 1\)\)"):
        kernel.step(params, params, state, 1)


def test_an_unknown_rounding_is_refused():
    with pytest.raises(SymoptError, match="unknown rounding 'float8': valid: bfloat16"):
        symopt.get("muon").kernel(rounding="float8")


def test_list_says_which_rules_take_matrices(runner):
    from symopt import cli

    out = runner.invoke(cli.main, ["list"]).output
    assert "takes 2-D parameters (matrices) only" in out.split("muon", 1)[1].split("adafactor", 1)[0]


def test_the_elementwise_backends_say_in_one_line_that_they_do_not_run_matrix_rules(runner):
    from symopt import cli
    from symopt.errors import SymoptError
    from conftest import require

    require("numba", install='pip install "symopt-toolkit[numba]"')
    torch = require("torch", install="pip install torch==2.13.0")
    import symopt.torch

    for name in ("muon", "adafactor"):
        with pytest.raises(SymoptError, match="whole tensors.*numba backend runs elementwise rules only"):
            symopt.get(name).kernel("numba")
        with pytest.raises(SymoptError, match="whole tensors.*elementwise rules only"):
            symopt.torch.Optimizer([torch.nn.Parameter(torch.ones(3, 2))], name)
    result = runner.invoke(cli.main, ["verify", "muon", "adafactor", "--backend", "numba", "--examples", "2"])
    assert result.exit_code == 2, result.output  # nothing was compared: not a pass
    every = sum(len(symopt.optimizers.variants(name)) for name in ("muon", "adafactor"))  # each variant skipped
    assert result.output.count("skipped: ") == every and "its NumPy kernel is verified" in result.output
    assert "nothing was compared" in result.output.splitlines()[-1]


def _cover_oracle(x):
    """SM3's cover by slices, element by element (an independent oracle of ops.CoverMax/CoverMin): each
    dimension k's vector holds, for each index j along it, the largest element whose k-th index is j."""
    if x.ndim == 0:
        return [[float(x)]]
    vectors = [[-np.inf] * side for side in x.shape]
    for index in np.ndindex(*x.shape):
        for k, j in enumerate(index):
            vectors[k][j] = max(vectors[k][j], float(x[index]))
    return vectors


@settings(max_examples=40, deadline=None)
@given(shapes().flatmap(lambda s: hnp.arrays(np.float64, s, elements=st.floats(0.0, 1e6))), st.data())
def test_cover_operations_are_the_slices_maxima_and_each_elements_smallest(x, data):
    """covmax holds each slice's largest element, dimension after dimension; covmin gives each element
    the smallest of the numbers of the slices through it; each element is at most covmin(covmax(x)),
    and equal for a vector or a number (its slices are its elements)."""
    vectors = _cover_oracle(x)
    packed = ops._cover_max(x)
    assert packed.tolist() == [v for vector in vectors for v in vector]
    numbers = data.draw(hnp.arrays(np.float64, packed.shape, elements=st.floats(0.0, 1e6)))
    expected = np.empty(x.shape)
    offsets = np.cumsum([0, *(len(v) for v in vectors)])
    for index in np.ndindex(*x.shape):
        expected[index] = min(numbers[offsets[k] + j] for k, j in enumerate(index)) if index else numbers[0]
    assert np.array_equal(ops._cover_min(numbers, x), expected)
    covered = ops._cover_min(packed, x)
    assert np.all(x <= covered) and (x.ndim > 1 or np.array_equal(x, covered))
