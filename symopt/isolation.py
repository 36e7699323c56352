"""``symopt check`` at arm's length: the user's step function runs in a child process.

Whatever the function does there (exits, hangs, starts threads, crashes the interpreter, closes its
streams, patches symopt) stays there: this process only sends it cases and reads back trajectories,
compares them itself (:func:`symopt.verify.check_runner`), and prints the verdict. One child serves a
whole check run (it is forked once, so that it starts in milliseconds and shares the state the cases
need); each call of the function must return within ``timeout`` seconds.

What the child sends back is never unpickled: a small JSON header, and the parameters as float64 bytes.
A child that dies, stops answering or breaks the protocol ends the check with a verdict:

- while importing the module or reading the function (exit 2, "cannot check"), as
  :func:`symopt.verify.load_function` reports a module that does not import;
- a call that takes longer than ``timeout`` (exit 2: it cannot be checked);
- a process that ends or is killed during a call (exit 1: it fails on a valid case, as an exception
  there does).

Example:
    >>> import symopt
    >>> from symopt.isolation import check
    >>> check("tests/user_steps/correct.py:sgd", symopt.get("sgd"), examples=5).report.passed  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import signal
import struct
import sys
import time
import warnings

import numpy as np

from symopt.core import Rule
from symopt.errors import SymoptError
from symopt.verify import (BadReturn, CheckResult, Report, StepFunctionError, StepRaised, check_runner,
                           check_signature, load_function, run_steps, witness_runner)

TIMEOUT = 10.0  # seconds a call of the user's function may take (symopt check --timeout)
IMPORT_TIMEOUT = 60.0  # at least this long for importing the module (torch takes a while)
_HEADER = struct.Struct("<cI")  # a message: its kind (one byte) and its length


class _Case:
    """The part of a case the child needs: the start, the gradients, the hyperparameters per step."""

    def __init__(self, case):
        self.params = np.array(case.params, copy=True)
        self.grads = [np.array(g, copy=True) for g in case.grads]
        self.hypers = [case.hyper_at(t) for t in range(1, len(self.grads) + 1)]

    def hyper_at(self, t: int) -> dict:
        return self.hypers[t - 1]


class _Fatal(StepFunctionError):
    """The child died or hung: every later call fails the same way, at once."""

    def __init__(self, message: str, unusable: bool):
        self.unusable = unusable
        super().__init__(message)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Child:
    """A forked process that loads ``spec`` and runs cases on request (see the module's docstring)."""

    def __init__(self, spec: str, rule: Rule, timeout: float = TIMEOUT, witness: bool = False):
        if not hasattr(os, "fork"):
            raise SymoptError("symopt check runs the function in a child process, which needs os.fork (POSIX)")
        if not timeout > 0:
            raise SymoptError(f"the timeout must be a positive number of seconds, not {timeout}")
        self.spec, self.timeout = spec, timeout
        self.fatal: _Fatal | None = None
        self.fatal_case = None
        down_read, down_write = os.pipe()  # cases, to the child
        up_read, up_write = os.pipe()  # answers, from the child
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            with contextlib.suppress(Exception):
                stream.flush()
        with warnings.catch_warnings():  # Python 3.12 warns of forking with threads: the child only
            warnings.simplefilter("ignore", DeprecationWarning)  # runs the user's code and os._exit()s
            self.pid = os.fork()
        if self.pid == 0:  # the child: it never returns from here
            os.close(down_write)
            os.close(up_read)
            _serve(spec, rule, down_read, up_write, witness)
        os.close(down_read)
        os.close(up_write)
        self._down, self._up = down_write, up_read

    def __enter__(self) -> Child:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the parent's side -----------------------------------------------------------------------------
    def start(self) -> None:
        """Wait until the child has loaded the function and checked its signature.

        Raises:
            SymoptError: what :func:`load_function` or :func:`check_signature` raised there, or that the
                child died or hung while importing.
        """
        kind, payload = self._receive(max(self.timeout, IMPORT_TIMEOUT), during="importing")
        if kind == b"e":
            raise SymoptError(payload.decode("utf-8", "replace"))
        if kind != b"r":
            raise SymoptError(f"cannot check {self.spec}: its process broke symopt's protocol while importing")

    def run(self, case) -> list[np.ndarray]:
        """The user's trajectory on ``case``, computed in the child (see :func:`run_steps`)."""
        if self.fatal is not None:
            raise self.fatal
        message = pickle.dumps(_Case(case), protocol=pickle.HIGHEST_PROTOCOL)
        view, deadline = memoryview(_HEADER.pack(b"c", len(message)) + message), time.monotonic() + self.timeout
        while view:  # a child that stops reading cannot block this process either
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self._down], [], left)[1]:
                self._hung(self.timeout, case, "")
            try:
                view = view[os.write(self._down, view[:select.PIPE_BUF]):]  # never blocks once writable
            except OSError:
                self._die("", case)
        while True:
            kind, payload = self._receive(self.timeout, case=case)
            if kind != b"h":  # a heartbeat: one call returned
                break
        try:
            if kind == b"t":
                steps = len(case.grads)
                shape = np.shape(case.params)
                values = np.frombuffer(payload, dtype="<f8")
                if values.size != steps * int(np.prod(shape, dtype=np.int64)):
                    raise ValueError
                return [row.copy() for row in values.reshape((steps, *shape))]
            header = json.loads(payload.decode("utf-8"))
            message = str(header["message"])
        except (ValueError, KeyError, TypeError):
            raise self._protocol(case) from None
        if kind == b"x":
            error = StepRaised(Exception())
            StepFunctionError.__init__(error, message)
            raise error
        if kind == b"b":
            raise BadReturn(message, unusable=bool(header.get("unusable")))
        raise self._protocol(case)

    def _protocol(self, case) -> _Fatal:
        self.close()
        self.fatal, self.fatal_case = _Fatal("its process broke symopt's protocol (it wrote into symopt's pipe)", True), case
        return self.fatal

    def _receive(self, timeout: float, case=None, during: str = "") -> tuple[bytes, bytes]:
        header = self._read(_HEADER.size, timeout, case, during)
        kind, length = _HEADER.unpack(header)
        if length > 1 << 34:
            raise self._protocol(case)
        return kind, self._read(length, timeout, case, during) if length else b""

    def _read(self, size: int, timeout: float, case, during: str) -> bytes:
        chunks, got, deadline = [], 0, time.monotonic() + timeout
        while got < size:
            left = deadline - time.monotonic()
            ready = select.select([self._up], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self._hung(timeout, case, during)
            chunk = os.read(self._up, min(size - got, 1 << 20))
            if not chunk:
                self._die(during, case)
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _hung(self, timeout: float, case, during: str):
        self.close()
        what = (f"importing {self.spec} took longer than {timeout:g} s" if during
                else f"a call of the function took longer than {timeout:g} s (symopt check --timeout)")
        if during:
            raise SymoptError(f"cannot check {self.spec}: {what}")
        self.fatal, self.fatal_case = _Fatal(what, True), case
        raise self.fatal

    def _die(self, during: str, case):
        status = self.close()
        if status is not None and os.WIFSIGNALED(status):
            how = f"was killed by {_signal_name(os.WTERMSIG(status))}"
        elif status is not None and os.WIFEXITED(status):
            how = f"ended with exit status {os.WEXITSTATUS(status)}"
        else:
            how = "ended"
        if during:
            raise SymoptError(f"importing {self.spec} failed: its process {how}")
        self.fatal = _Fatal(f"the function's process {how} during a call (os._exit, a crash?)", False)
        self.fatal_case = case
        raise self.fatal

    def close(self) -> int | None:
        """End the child (whatever it is doing) and return its wait status."""
        if self.pid is None:
            return None
        for fd in (self._down, self._up):
            with contextlib.suppress(OSError):
                os.close(fd)
        pid, self.pid = self.pid, None
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            time.sleep(0.01)
            done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            done, status = os.waitpid(pid, 0)
        return status


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _serve(spec: str, rule: Rule, down: int, up: int, witness: bool = False) -> None:
    """The child: load the function (with ``witness``, a function or a torch.optim.Optimizer class:
    :func:`symopt.verify.witness_runner`), then answer each case; never returns."""
    code = 0
    try:
        with contextlib.suppress(Exception):
            import faulthandler

            faulthandler.disable()  # a crash is the parent's to report, in one line
        with contextlib.suppress(Exception):
            fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(fd, 0)
            os.dup2(2, 1)  # what the function prints goes to stderr: stdout is the verdict's

        def send(kind: bytes, payload: bytes = b"") -> None:
            os.write(up, _HEADER.pack(kind, len(payload)))
            _write_all(up, payload)

        def beating(function):
            def call(*args, **kwargs):
                result = function(*args, **kwargs)
                send(b"h")
                return result

            return call

        try:
            function = load_function(spec)
            if witness:
                run = witness_runner(function, rule, wrap=beating)
            else:
                check_signature(function, rule)
                step = beating(function)
                run = lambda case: run_steps(step, case)  # noqa: E731
        except SymoptError as exc:
            send(b"e", str(exc).encode("utf-8", "replace"))
            return
        send(b"r")

        while True:
            header = _read_exact(down, _HEADER.size)
            if header is None:
                return
            _, length = _HEADER.unpack(header)
            case = pickle.loads(_read_exact(down, length))
            try:
                out = run(case)
            except StepRaised as exc:
                send(b"x", json.dumps({"message": str(exc)}).encode())
                continue
            except BadReturn as exc:
                send(b"b", json.dumps({"message": str(exc), "unusable": exc.unusable}).encode())
                continue
            send(b"t", np.asarray(np.stack(out), dtype="<f8").tobytes() if out else b"")
    except BaseException:
        code = 3
    finally:
        os._exit(code)


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, size - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def check_in_child(child: Child, rule: Rule, examples: int = 100, seed: int = 0,
                   rounding: str | None = None) -> CheckResult:
    """:func:`symopt.verify.check_runner` of the function a started :class:`Child` runs.

    Raises:
        SymoptError: if the function cannot be checked: it returns something that is not
            ``(params, state)``, or a call takes longer than the child's ``timeout``.
    """
    try:
        result = check_runner(child.run, rule, examples=examples, seed=seed, name=child.spec.rpartition(":")[2],
                              rounding=rounding)
    except SymoptError:
        if child.fatal is not None and child.fatal.unusable:
            raise SymoptError(f"cannot check {child.spec}: {child.fatal}") from None
        raise
    finally:
        child.close()
    if child.fatal is None:
        return result
    if child.fatal.unusable:
        raise SymoptError(f"cannot check {child.spec}: {child.fatal}")
    failed = Report(result.report.label, result.report.against, cases=result.report.cases, failure=str(child.fatal),
                    failure_case=child.fatal_case, error=child.fatal)
    return CheckResult(failed)


def against(spec: str, rule: Rule, examples: int = 100, seed: int = 0, timeout: float = TIMEOUT) -> CheckResult:
    """``symopt verify RULE --against spec``: the rule's kernel against the user's own implementation
    (a torch.optim.Optimizer subclass or a NumPy step, :func:`symopt.verify.witness_runner`), run in
    a child process as :func:`check` runs a step function; float64, the trajectories compared as
    ``check`` compares them.

    Raises:
        SymoptError: as :func:`check` does, and for a class that is not a torch.optim.Optimizer.
    """
    with Child(spec, rule, timeout, witness=True) as child:
        result = check_in_child(child, rule, examples=examples, seed=seed)
    result.report.against = spec
    return result


def check(spec: str, rule: Rule, examples: int = 100, seed: int = 0, timeout: float = TIMEOUT) -> CheckResult:
    """:func:`symopt.verify.check_function` of the function ``spec`` names (``module:function``), run in
    a child process (see :class:`Child`): the verdict is this process's, whatever the function does.

    Raises:
        SymoptError: if the function cannot be checked: it does not import or load (see
            :func:`symopt.verify.load_function`), has the wrong signature, returns something that is
            not ``(params, state)``, a call takes longer than ``timeout``, or its process dies while
            importing.
    """
    with Child(spec, rule, timeout) as child:
        return check_in_child(child, rule, examples=examples, seed=seed)
