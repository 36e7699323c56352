"""The command's streams: ASCII notation where a stream cannot encode the Unicode one, and a stream
that cannot be written (a full disk, a closed pipe) as one line, not a traceback.

Ground floor: imports nothing of symopt's.

Example:
    >>> "θₜ = θₜ₋₁ − η·√v̂ₜ".encode("ascii", errors=ASCII)
    b'theta_t = theta_(t-1) - eta*sqrtv^_t'
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import sys
import unicodedata

ASCII = "symopt-ascii"  # the codec error handler that writes ASCII notation
_SIGNS = {
    "√": "sqrt", "‖": "||", "·": "*", "−": "-", "×": "x", "→": "->", "∂": "d", "∞": "inf", "–": "-", "—": "-",
    "½": "1/2", "≤": "<=", "≥": ">=", "ℓ": "l", "≈": "~=", "↦": "|->", "±": "+-", "≪": "<<", "≫": ">>", "∪": "U",
    "÷": "/", "≠": "!=", "≲": "<~", "⇒": "=>", "∝": "~", "…": "...", "’": "'", "‘": "'", "“": '"', "”": '"',
    "\u0302": "^", "\u0303": "~", "\u0304": "-", "\u0305": "-", "ᵀ": "^T", "λ": "lambda", "Λ": "Lambda",
}
_SCRIPTS = {"SUPERSCRIPT": "^", "SUBSCRIPT": "_", "MODIFIER LETTER SMALL": "^", "MODIFIER LETTER CAPITAL": "^",
            "LATIN SUBSCRIPT SMALL LETTER": "_"}
_WORDS = {"ZERO": "0", "ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "SIX": "6",
          "SEVEN": "7", "EIGHT": "8", "NINE": "9", "MINUS": "-", "PLUS SIGN": "+", "EQUALS SIGN": "=",
          "LEFT PARENTHESIS": "(", "RIGHT PARENTHESIS": ")"}


def _script(char: str) -> tuple[str, str] | None:
    """``("_", "t")`` for ``ₜ``, ``("^", "2")`` for ``²``; None for a character that is no script."""
    name = unicodedata.name(char, "")
    for prefix, mark in sorted(_SCRIPTS.items(), key=lambda p: -len(p[0])):
        if name.startswith(prefix + " "):
            rest = name[len(prefix) + 1:]
            if rest in _WORDS:
                return mark, _WORDS[rest]
            letter = rest.rpartition(" ")[2]
            if len(letter) == 1:
                return mark, letter.lower() if "SMALL" in name else letter
    return None


def ascii_notation(text: str) -> str:
    """``text`` in ASCII: Greek letters by name, sub- and superscripts as ``_x`` and ``^x`` (a run of
    several in parentheses), signs as their ASCII spelling, anything else as ``?``."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if ord(char) < 128:
            out.append(char)
            i += 1
            continue
        script = _script(char)
        if script is not None:
            run = [script[1]]
            while i + len(run) < len(text) and (_script(text[i + len(run)]) or ("",))[0] == script[0]:
                run.append(_script(text[i + len(run)])[1])
            out.append(script[0] + (run[0] if len(run) == 1 else f"({''.join(run)})"))
            i += len(run)
            continue
        out.append(_letter(char))
        i += 1
    return "".join(out)


def _letter(char: str) -> str:
    if char in _SIGNS:
        return _SIGNS[char]
    name = unicodedata.name(char, "")
    if name.startswith("GREEK "):
        word = name.rpartition(" ")[2].lower().replace("lamda", "lambda")
        return word.capitalize() if "CAPITAL" in name else word
    plain = unicodedata.normalize("NFKD", char)
    if plain and ord(plain[0]) < 128:
        return plain[0] + "".join(_SIGNS.get(c, "") for c in plain[1:])
    return "?"


def _handler(error: UnicodeError):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return ascii_notation(error.object[error.start:error.end]), error.end


codecs.register_error(ASCII, _handler)


def fit(stream) -> None:
    """Let ``stream`` write ASCII notation for what its encoding cannot hold (a latin-1 terminal)."""
    if not isinstance(stream, io.TextIOWrapper):
        return
    with contextlib.suppress(Exception):
        "θλ√·ₜ".encode(stream.encoding)
        return
    with contextlib.suppress(Exception):
        stream.reconfigure(errors=ASCII)


def unwritable(exc: BaseException) -> str | None:
    """What an OSError from writing the output means, in one line (None for a broken pipe: the reader
    left, as ``symopt list | head -1`` does, and nothing more needs saying)."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno == errno.EPIPE:
        return ""
    return f"cannot write the output: {exc.strerror or exc}"


def silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush does not fail again."""
    with contextlib.suppress(Exception):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
