"""The numba backend: the references as oracle, its agreement with the NumPy kernel it shares a
lowering with, the kernel contract, the disk cache across processes, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symopt
from conftest import require
from symopt import cli
from symopt.errors import SymoptError
from symopt.strategies import dtypes, gradients, shapes, weights
from symopt.verify import verify

ROOT = Path(__file__).resolve().parents[1]
from conftest import registry_sample  # noqa: E402

# Elementwise rules, from the registry: in CI four variants drawn with a fixed seed (every variant outside CI).
RULES = [(rule.name, dict(rule.options)) for rule in registry_sample(lambda rule: rule.elementwise, per_rule=2,
                                                                     total=4, seed=3)]


@pytest.fixture(scope="module")
def numba():
    return require("numba", install='pip install "symopt-toolkit[numba]"')


@pytest.mark.parametrize("name, options", RULES, ids=[n + "".join(f"-{k}" for k in o) for n, o in RULES])
def test_agrees_with_the_references(numba, name, options):
    report = verify(symopt.get(name, **options), examples=8, seed=1, backend="numba")
    assert report.passed, (report.failure, report.counterexample and report.counterexample.errors.first)
    assert set(report.errors) == {"float32", "float64"}


@st.composite
def inputs(draw):
    dtype, shape = draw(dtypes()), draw(shapes())
    return draw(weights(shape, dtype)), draw(gradients(shape, dtype))


@settings(max_examples=15)
@given(data=inputs(), t=st.integers(1, 3), inplace=st.booleans(), transposed=st.booleans())
def test_same_operations_as_the_numpy_kernel(numba, data, t, inplace, transposed):
    """The same lowering in one loop: the same operations in the same order on the same types, so
    the same bits (no fastmath, no fused multiply-add), in place or not, for any layout."""
    params, grads = data
    if transposed:
        params, grads = params.T, grads.T  # not C-contiguous when 2-D: copied in and out
    rule = symopt.get("adamw")
    fused, plain = rule.kernel("numba"), rule.kernel()
    with np.errstate(all="ignore"):
        state = plain.init(params)
        expected, expected_state = plain.step(params.copy(), grads, state, t, lr=0.1, weight_decay=0.1)
        ours = params.copy(order="K")
        mine = {k: v.copy(order="K") for k, v in state.items()}
        got, got_state = fused.step(ours, grads, mine, t, inplace=inplace, lr=0.1, weight_decay=0.1)
    assert got.dtype == params.dtype and got.shape == params.shape
    assert (got is ours) == inplace and (got_state["m"] is mine["m"]) == inplace
    np.testing.assert_array_equal(got, expected)
    for key in expected_state:
        np.testing.assert_array_equal(got_state[key], expected_state[key])


def test_same_contract_and_checks(numba):
    kernel = symopt.get("adamw").kernel("numba")
    params = np.ones(4, np.float32)
    state = kernel.init(params)
    with pytest.raises(SymoptError, match=r"beta1 must be in \[0, 1\)"):
        kernel.step(params, params, state, 1, beta1=1.0)
    with pytest.raises(SymoptError, match="unknown adamw hyperparameter 'betas'"):
        kernel.step(params, params, state, 1, betas=0.9)
    with pytest.raises(SymoptError, match="grads has shape"):
        kernel.step(params, np.ones(3), state, 1)
    with pytest.raises(SymoptError, match="float32 and float64 parameters, not float16"):
        half = np.ones(4, np.float16)
        kernel.step(half, half, kernel.init(half), 1)


def test_an_operation_that_is_not_elementwise_is_refused():
    from symopt.backends import elementwise
    from symopt.kernel import _Op

    with pytest.raises(SymoptError, match="mine: the numba backend runs elementwise operations only, and matmul"):
        elementwise("mine", [_Op("matmul", [0, 1], 2)], str, lambda f, a: f, "numba")


CHILD = """
import json, sys, numpy as np, symopt
kernel = symopt.get("momentum").kernel("numba")
params = np.ones(8)
kernel.step(params, params.copy(), kernel.init(params), 2, inplace=True)
step = [m.step for name, m in sys.modules.items() if name.startswith("symopt_numba_")]
print(json.dumps([(sum(s.stats.cache_hits.values()), sum(s.stats.cache_misses.values())) for s in step]))
"""


def test_a_second_process_loads_the_compiled_code(numba, tmp_path):
    env = {**os.environ, "SYMOPT_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def run():
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        [(hits, misses)] = json.loads(out.stdout)
        return hits, misses

    assert run() == (0, 1)  # compiled, and saved
    assert run() == (1, 0)  # loaded from the cache, not compiled
    assert list((tmp_path / "numba").glob("kernel_*.py"))


def test_missing_numba_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    with pytest.raises(SymoptError) as error:
        symopt.get("adam").kernel("numba")
    assert str(error.value) == 'the numba backend needs numba: pip install "symopt-toolkit[numba]"'


def test_verify_command_takes_the_backend(numba, runner):
    result = runner.invoke(cli.main, ["verify", "sgd", "--backend", "numba", "--examples", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("numba kernel against reference")
    result = runner.invoke(cli.main, ["verify", "sgd", "--backend", "numbaa"])
    assert result.exit_code == 2 and "numbaa" in result.output


# --- the cache: only what symopt wrote runs, from a folder no one else can write --------------------------
TINY = '# a test kernel\nfrom numba import njit\n\n\n@njit(cache=True, error_model="numpy")\ndef step(a):\n    return a + 1\n'


@pytest.fixture
def cache_dir(numba, tmp_path, monkeypatch):
    """An empty cache of the test's own, and no kernel loaded yet in this process."""
    from symopt.backends import numba as backend

    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(backend, "_MODULES", {})
    return tmp_path / "cache" / "numba"


def planted(folder, marker):
    """A file named for TINY's hash that runs code of its own when imported."""
    from symopt import cache

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kernel_{cache.digest(TINY.encode())}.py"
    path.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n\n\ndef step(a):\n    return a - 1\n")
    return path


def test_a_planted_kernel_file_never_runs_and_is_replaced(cache_dir, tmp_path):
    from symopt.backends.numba import load

    path = planted(cache_dir, tmp_path / "ran")
    step = load(TINY)
    assert step.py_func(1) == 2 and not (tmp_path / "ran").exists()
    assert path.read_text() == TINY


def test_a_cache_folder_others_can_write_is_not_used(cache_dir, tmp_path, capsys):
    from symopt.backends.numba import load

    path = planted(cache_dir, tmp_path / "ran")
    cache_dir.chmod(0o777)
    step = load(TINY)
    assert step.py_func(1) == 2 and not (tmp_path / "ran").exists()
    warning = capsys.readouterr().err
    assert warning.startswith("symopt: warning: the cache folder") and warning.count("\n") == 1
    assert "import pathlib" in path.read_text()  # not theirs to touch: a private folder was used


@pytest.mark.parametrize("damage", ["empty", "garbage", "edited", "folder"])
def test_a_damaged_kernel_file_is_written_again_or_skipped(cache_dir, damage):
    from symopt import cache
    from symopt.backends.numba import load

    cache_dir.mkdir(parents=True, mode=0o700)
    path = cache_dir / f"kernel_{cache.digest(TINY.encode())}.py"
    if damage == "folder":
        path.mkdir()
    else:
        path.write_text({"empty": "", "garbage": "\x00\x01(((", "edited": TINY.replace("a + 1", "a + 2")}[damage])
    assert load(TINY).py_func(1) == 2
    assert path.is_dir() if damage == "folder" else path.read_text() == TINY


def test_damaged_machine_code_is_compiled_again(cache_dir, monkeypatch):
    from symopt.backends import numba as backend

    backend._call(backend.load(TINY), (np.ones(2),))  # compiled and saved
    assert (cache_dir.stat().st_mode & 0o777) == 0o700  # created private
    saved = list((cache_dir / "__pycache__").iterdir())
    assert {p.suffix for p in saved} == {".nbi", ".nbc"}
    for p in saved:
        p.write_bytes(b"not a pickle")
    monkeypatch.setattr(backend, "_MODULES", {})
    step = backend.load(TINY)
    backend._call(step, (np.ones(2),))
    assert step(np.ones(2)).tolist() == [2.0, 2.0]


def test_the_cache_location_resolves_as_xdg_does(monkeypatch, tmp_path):
    from symopt import cache

    monkeypatch.delenv("SYMOPT_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SYMOPT_CACHE_DIR", "~/x")
    assert cache.location() == tmp_path / "x"
    monkeypatch.delenv("SYMOPT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache.location() == tmp_path / ".cache" / "symopt"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.location() == tmp_path / "xdg" / "symopt"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "")
    assert cache.location() is None or cache.location().parts[:2] != ("/", ".cache")
