"""Fuzzing the command line: whatever is typed, symopt answers with output or a clean usage error.

Hypothesis draws command lines from symopt's real vocabulary (the commands, the registered rules,
the derivations, the rules' options and their values, formats, flags, numbers valid and not, paths
that exist, do not, or cannot be written) and mutates them with garbage. Every one must end with
exit status 0, 1 or 2 and no Python traceback: an exception that escapes is a bug.

Kept fast and harmless: `verify` and `check` always end with `--examples 1` or `2`, `check` with a
`--timeout` of at most a second (or one that is refused), and its step functions include hostile
ones (that crash, exit, hang, leave threads, close their streams, patch symopt: each in check's
child process), `train` with `--steps 1` or `2`, `export` with `--no-figure` (and its documents are
computed once), `equiv` is given a first rule that is no rule or a malformed spec (a decision is
seconds of SymPy; the valid pairs are tested in test_equiv.py), `--backend numba` is kept only for
the first registered rule (one compilation per process), `verify --all` runs against the package
the fewest variants declare (over the whole registry it is tens of seconds), and the process runs in a temporary folder;
every path given to -o or export is in it, and garbage never holds a '/' nor is '..'. 300
examples when the environment variable CI is set, 60 otherwise.
`benchmarks/fuzz_cli.py` runs the same command lines outside pytest and counts the tracebacks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import stat
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symopt
from symopt import cli
from symopt.derive import MODULES

# Its exports compute derivations/: in the process that already has them (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("documents")

ROOT = Path(__file__).resolve().parents[1]
STEPS = ROOT / "tests" / "user_steps"
# 300 in CI (it was 500, then 450 as the surface grew: numba's one compilation, check's hostile
# functions and --timeout); its wall time is on the suite's critical path, in the documents group's
# one process, and CI's examples are the same in every run (the profile is derandomized), so that
# more of them would re-run the same command lines; benchmarks/fuzz_cli.py runs 5000 new ones.
EXAMPLES = 300 if os.environ.get("CI") else 60


def _rule_options() -> dict[str, dict[str, list[str]]]:
    """Each rule's option keys, and the words each option's values are written as."""
    from symopt.optimizers import option_values

    words = {True: ["true", "on"], False: ["false", "off"]}
    return {name: {key: sorted({w for v in values for w in words.get(v, [str(v)])})
                   for key, values in option_values(name).items()}
            for name in symopt.rules()}


RULES = symopt.rules()
DERIVATIONS = list(MODULES)
RULE_OPTIONS = _rule_options()
OPTIONS = {key: sorted({v for opts in RULE_OPTIONS.values() for v in opts.get(key, [])})
           for key in sorted({k for opts in RULE_OPTIONS.values() for k in opts})}


def _choices(command: str, option: str) -> list[str]:
    """The values a command's option takes, read from the command itself."""
    found = [p.type.choices for p in cli.main.commands[command].params if p.name == option]
    return list(found[0]) if found else []


AGAINST = _choices("verify", "against")


def _smallest_witness() -> str:
    """The package of ``verify --against`` that the fewest registered variants declare (a run of
    ``verify --all --against`` it compares those, and skips the others at once)."""
    from symopt.verify import BUILT_IN, library_package

    declared = [library_package(symopt.get(name, **v)) for name in RULES for v in symopt.optimizers.variants(name)]
    return min((w for w in AGAINST if w not in BUILT_IN), key=declared.count)


SMALLEST_WITNESS = _smallest_witness()
BACKENDS = [b for b in _choices("verify", "backend") if b != "numba"] + ["NUMBA", "cuda", ""]
# First rules for `equiv`: each fails before SymPy runs, as no rule or as a spec that does not parse.
NOT_RULES = ["adam(", "adam(epsilon=", "adam(epsilon='x')", "adam(foo=1)", "adam(epsilon='hat'", "nope(a=1)",
             "adam()", "adam(epsilon='hat', epsilon='hat')", "adam(amsgrad=maybe)", "(adam)", "adam[x]",
             "adam(epsilon=\"hat\")x", "Adamw", "sgd(nesterov=True)", "momentum(form='ema', 1)"]
FORMATS = sorted({*_choices("derive", "fmt"), *_choices("latex", "fmt"), "TEXT", "yaml", ""})
NUMBERS = ["0", "1", "2", "-1", "3", "1e3", "1.5", "nan", "inf", "-0", "abc", "", " 1", "0x10",
           "99999999999999999999", "100001", "-99999999999999999999"]
STEP_FUNCTIONS = ["correct.py:adamw", "correct.py:momentum", "buggy.py:adamw_decay_not_scaled",
                  "buggy.py:sgd_decay_not_scaled", "buggy.py:adamw_crashes", "buggy.py:wrong_signature",
                  "buggy.py:nope", "hostile.py:sgd_in_place", "hostile.py:returns_none",
                  "hostile.py:returns_complex", "hostile.py:exits", "hostile.py:builtin",
                  "hostile.py:not_callable", "hostile.py:raises_base_exception", "hostile.py:returns_hostile_object",
                  "exits_on_import.py:step", "exits_on_lookup.py:step", "missing.py:step", "buggy.py",
                  "hostile.py:crashes", "hostile.py:ends_the_process", "hostile.py:starts_a_thread",
                  "hostile.py:closes_its_streams", "hostile.py:forges_the_verdict", "hostile.py:sleeps"]
# check's --timeout, the last given (always one of these): a hanging function costs at most a second.
TIMEOUTS = ["0.2", "0.2", "0.2", "1", "0", "-1", "nan", "1e9", "x"]


def garbage() -> st.SearchStrategy[str]:
    """Text that is no path out of the working folder: no '/', not '..'."""
    text = st.text(st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), max_size=12)
    return text.filter(lambda s: s.strip() != "..")


def rule_names() -> st.SearchStrategy[str]:
    mutated = st.sampled_from(RULES).flatmap(lambda r: st.sampled_from(
        [r.upper(), r.capitalize(), r + "x", r[:-1], " " + r, r + ":", r + ":" + DERIVATIONS[0]]))
    return st.one_of(st.sampled_from(RULES), st.sampled_from(RULES), st.sampled_from(RULES), mutated, garbage())


def derivation_keys() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(DERIVATIONS), st.sampled_from([k.upper() for k in DERIVATIONS]), garbage())


def option_pairs() -> st.SearchStrategy[str]:
    """``KEY=VALUE``: mostly a real option with one of its values, else anything."""
    valid = st.sampled_from(list(OPTIONS)).flatmap(
        lambda k: st.sampled_from(OPTIONS[k]).map(lambda v: f"{k}={v}"))
    key = st.one_of(st.sampled_from(list(OPTIONS)), st.sampled_from(["foo", "", " ", "lr", "Epsilon"]), garbage())
    value = st.one_of(st.sampled_from(sorted({v for vs in OPTIONS.values() for v in vs})),
                      st.sampled_from(NUMBERS), garbage())
    pair = st.builds(lambda k, v: f"{k}={v}", key, value)
    malformed = st.sampled_from(["nesterov", "=true", "==", "=", "epsilon==inside", "bias_correction = false"])
    return st.one_of(valid, valid, valid, pair, malformed)


def rule_and_options() -> st.SearchStrategy[list[str]]:
    """A rule and some -O options: mostly its own options with their own values, else anything."""

    def own(rule):
        keys = list(RULE_OPTIONS.get(rule, {}))
        if not keys:
            return st.just([rule])
        pair = st.sampled_from(keys).flatmap(lambda k: st.sampled_from(RULE_OPTIONS[rule][k]).map(lambda v: f"{k}={v}"))
        return st.lists(pair, min_size=1, max_size=2, unique_by=lambda p: p.split("=")[0]).map(
            lambda ps: [rule, *(t for p in ps for t in ("-O", p))])

    anything = st.tuples(rule_names(), st.lists(option_pairs(), max_size=2)).map(
        lambda t: [t[0], *(x for p in t[1] for x in ("-O", p))])
    return st.one_of(st.sampled_from(RULES).flatmap(own), st.sampled_from(RULES).flatmap(own), anything)


def paths(work: Path) -> st.SearchStrategy[str]:
    """Files to write: new, existing, in a missing folder, a folder, a pipe, a link, too long..."""
    return st.sampled_from([
        f"{work}/out.tex", f"{work}/out.png", f"{work}/out.svg", f"{work}/out.pdf", f"{work}/out.jpg",
        f"{work}/new/", f"{work}/missing/x.tex", str(work), "", f"{work}/existing.tex", f"{work}/fifo",
        f"{work}/link.tex", f"{work}/{'a' * 300}.tex", f"{work}/a-file/x.tex", "relative.tex", "-",
    ])


def folders(work: Path) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{work}/export", f"{work}/mine", "", f"{work}/existing.tex", f"{work}/a-file/out",
                            "relative-export", f"{work}/{'d' * 300}", f"{work}/export/"])


def repeated(strategy, most=2):
    return st.lists(strategy, max_size=most)


def command_lines(work: Path) -> st.SearchStrategy[list[str]]:
    """A command line: one command with its arguments drawn from the vocabulary, maybe mutated."""
    fmt = st.sampled_from(FORMATS)
    number = st.sampled_from(NUMBERS)
    opts = repeated(option_pairs()).map(lambda ps: [t for p in ps for t in ("-O", p)])

    def maybe(*tokens):
        return st.one_of(st.just([]), st.tuples(*tokens).map(list))

    def joined(*parts):
        return st.tuples(*parts).map(lambda ls: [t for part in ls for t in (part if isinstance(part, list) else [part])])

    list_ = joined(st.just("list"), maybe(st.sampled_from(["-f", "--format"]), fmt))
    derive = joined(st.just("derive"), rule_and_options(), maybe(st.just("--only"), derivation_keys()),
                    maybe(st.sampled_from(["-f", "--format"]), fmt))
    compare = joined(st.just("compare"), rule_names(), rule_names(), maybe(st.just("--format"), fmt))
    verify = joined(st.just("verify"), st.one_of(st.just(["--all"]), rule_and_options(), repeated(rule_names())), opts,
                    maybe(st.just("--against"), st.sampled_from([*AGAINST, "numpy", ""])),
                    maybe(st.just("--backend"), st.one_of(st.sampled_from(BACKENDS), garbage())),
                    maybe(st.just("--seed"), number))
    check = joined(st.just("check"),
                   st.one_of(st.sampled_from([str(STEPS / f) for f in STEP_FUNCTIONS]), garbage()),
                   st.one_of(st.just([]), rule_and_options().map(lambda ts: ["--rule", *ts])),
                   maybe(st.just("--seed"), number))
    # the numba backend on the first registered rule only: one compilation per process
    numba = joined(st.just("verify"), st.just(RULES[0]), opts, st.just("--backend"), st.just("numba"))
    exported = st.one_of(rule_names(), st.builds(lambda r, k: f"{r}:{k}", st.sampled_from(RULES), derivation_keys()))
    latex = joined(st.just("latex"), st.one_of(rule_and_options(), exported.map(lambda e: [e])), opts,
                   maybe(st.just("--format"), fmt),
                   maybe(st.sampled_from(["-o", "--output"]), paths(work)), maybe(st.just("--force")))
    export = joined(st.just("export"), folders(work), maybe(st.just("--force")))
    plot = joined(st.just("plot"), st.sampled_from(["coupling", "Coupling", "", "adam"]),
                  maybe(st.just("-o"), paths(work)), maybe(st.just("--force")))
    equiv = joined(st.just("equiv"), st.one_of(st.sampled_from(NOT_RULES), garbage()), rule_names(),
                   maybe(st.sampled_from(["-f", "--format"]), fmt))
    train = joined(st.just("train"), repeated(rule_names()), maybe(st.just("-o"), paths(work)), maybe(st.just("--force")))
    top = st.one_of(st.sampled_from([[], ["--help"], ["-h"], ["--version"], ["-V"], ["help"]]),
                    st.lists(garbage(), min_size=1, max_size=3))
    helps = st.sampled_from(["list", "derive", "compare", "verify", "check", "latex", "export", "plot", "equiv",
                             "train"]).map(lambda c: [c, "--help"])
    line = st.one_of(list_, derive, derive, derive, compare, verify, check, check, latex, latex, latex, export,
                     plot, equiv, train, top, helps, numba)

    vocabulary = st.one_of(garbage(), rule_names(), derivation_keys(), option_pairs(), number, fmt,
                           st.sampled_from(["-O", "-o", "--only", "--format", "-f", "--examples", "--against",
                                            "--all", "--force", "--seed", "--rule", "--no-figure", "--", "-",
                                            "--steps", "--backend", "--timeout"]))

    @st.composite
    def mutated(draw):
        tokens = list(draw(line))
        for _ in range(draw(st.integers(0, 2))):
            where = draw(st.integers(0, len(tokens)))
            kind = draw(st.sampled_from(["insert", "insert", "delete", "duplicate"]))
            if kind == "insert":
                tokens.insert(where, draw(vocabulary))
            elif tokens and where < len(tokens):
                if kind == "delete":
                    del tokens[where]
                else:
                    tokens.insert(where, tokens[where])
        # Keep it cheap: few generated cases, no figure. The last --examples wins.
        if tokens[:1] in (["verify"], ["check"]):
            tokens += ["--examples", draw(st.sampled_from(["1", "2"]))]
        if tokens[:1] == ["check"]:
            tokens += ["--timeout", draw(st.sampled_from(TIMEOUTS))]
        if tokens[:1] == ["train"]:
            tokens += ["--steps", draw(st.sampled_from(["1", "2"]))]
        if tokens[:1] == ["equiv"] and len(tokens) > 1 and tokens[1] in RULES:  # a mutation made it a rule
            tokens[1] = NOT_RULES[0]
        if tokens[:1] == ["verify"] and "--all" in tokens:
            # --all over the registry is 0.2 s a variant (50 s at 253): its loop runs against the package
            # with the fewest rules (the last --against wins), so that the fuzz's cost does not grow with
            # the registry (tests/test_verify.py runs --all against torch; benchmarks/registry_sweep.py every variant)
            tokens += ["--against", SMALLEST_WITNESS]
        if tokens[:2] != ["verify", RULES[0]] or "--all" in tokens:  # numba compiles for a second a rule
            tokens = [t for i, t in enumerate(tokens) if not (t == "--backend" and tokens[i + 1:i + 2] == ["numba"])]
        if tokens[:1] == ["export"]:
            tokens.append("--no-figure")
        return tokens

    return mutated()


def prepare(work: Path) -> None:
    """The files the paths refer to: an existing file, a pipe, a link, a user's folder."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "existing.tex").write_text("mine")
    (work / "a-file").write_text("")
    if not (work / "fifo").exists():
        os.mkfifo(work / "fifo")
    if not (work / "link.tex").is_symlink():
        (work / "link.tex").symlink_to(work / "existing.tex")
    (work / "mine").mkdir(exist_ok=True)
    (work / "mine" / "README.md").write_text("# my notes\n")


def outcome(args: list[str], runner: CliRunner | None = None) -> str | None:
    """Run ``symopt ARGS``; None if it ended cleanly, else what went wrong (the traceback's last line)."""
    result = (runner or CliRunner()).invoke(cli.main, args)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        last = traceback.format_exception(exc)[-1].strip()
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/symopt/" in f.filename]
        where = f" (in {os.path.relpath(frames[-1].filename, ROOT)}:{frames[-1].lineno})" if frames else ""
        return f"symopt {shlex.join(args)}\n  -> {last}{where}"
    if result.exit_code not in (0, 1, 2):
        return f"symopt {shlex.join(args)}\n  -> exit status {result.exit_code}"
    if "Traceback" in result.output:
        return f"symopt {shlex.join(args)}\n  -> a traceback in the output"
    return None


@contextlib.contextmanager
def documents_once():
    """``symopt.export.documents`` computed once per figure flag, not for every `export` (it derives
    every rule: seconds); what is written, and how, is unchanged."""
    from symopt import export

    original = export.documents
    export.documents = functools.cache(original)
    try:
        yield
    finally:
        export.documents = original


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder to run in (relative paths land here), with the files the paths refer to."""
    folder = tmp_path_factory.mktemp("fuzz")
    prepare(folder)
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with documents_once():
            yield folder
    finally:
        os.chdir(previous)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_path_leads_out_of_the_work_folder(work, data):
    """Every path the fuzz writes to is in the work folder, or relative to it (the current folder)."""
    for token in data.draw(command_lines(work)):
        assert token.strip() != ".." and ("/" not in token or token.startswith((str(work), str(STEPS)))), token


@settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.nested_given, HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_command_line_ends_cleanly(work, data):
    prepare(work)  # an earlier example may have replaced or removed these
    args = data.draw(command_lines(work), label="args")
    problem = outcome(args)
    assert problem is None, problem
    assert stat.S_ISFIFO(os.lstat(work / "fifo").st_mode)  # never replaced by a file
