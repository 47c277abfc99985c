"""A shell-aware matcher for rules: what a command line *does*, not how it is spelled.

A command line is read the way a POSIX shell reads it, as far as that matters for rules:
quotes and backslashes (``shlex``), line continuations, operators that separate simple
commands (``;`` ``&&`` ``||`` ``&`` ``|`` ``(`` ``)`` ``$(`` and backticks), redirections
(their target is not an argument), leading ``NAME=value`` assignments and wrappers that run
the command after them (``sudo``, ``doas``, ``env``, ``command``, ``exec``, ``nohup``,
``time``, ``nice``, ``timeout``, ``xargs`` ...). ``bash -c '…'``, ``sh -c``, ``eval`` and
friends are read again inside. A program given by path counts by its name (``/bin/rm``).

A pattern is written like a command (see ``ShellPattern``)::

    rm -r|-R|--recursive -f|--force /|~
    git push -f|--force * main|master
    curl|wget | sh|bash

- the first word is the program (``|`` separates alternatives);
- a word starting with ``-`` is an option that must be present anywhere in the command,
  in any order; short options are compared letter by letter, so ``-rf``, ``-fr`` and
  ``-r -f`` are the same; ``--name=value`` counts as ``--name``;
- any other word is an argument: the pattern's arguments must appear in the command's
  arguments (options left out) in the same order, not necessarily next to each other;
  each is a glob (``*``, ``?``, ``[…]``; ``[*]`` is a literal star) with ``|`` alternatives;
- a lone ``|`` joins two such patterns: the left one must match a command of a pipeline
  and the right one a later command of the same pipeline.

Nothing here runs anything: the text is only read.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["ShellPattern", "ShellPatternError", "SimpleCommand", "parse_command_line"]

# Operators other than redirections end a simple command; "|" and "|&" keep the next one
# in the same pipeline.
_PIPES = {"|", "|&"}
_REDIRECT = re.compile(r"^[0-9]*(<|>|<<|>>|<<<|<>|>&|<&|&>|&>>|>\|)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# wrapper -> (options that take a value, how many leading arguments are not the command)
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-C", "-h", "-p", "-U", "-r", "-t", "-T", "-D"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "-C", "-S", "--unset", "--chdir"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "-o"}), 0),
    "nice": (frozenset({"-n"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p"}), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "xargs": (frozenset({"-I", "-L", "-n", "-P", "-s", "-d", "-E", "-a"}), 0),
    "chroot": (frozenset(), 1),
    "setsid": (frozenset(), 0),
    "unbuffer": (frozenset(), 0),
}
# shells whose -c argument is itself a command line
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "ash", "mksh", "busybox"})
_MAX_DEPTH = 4  # bash -c "sh -c '…'" nesting read at most this deep


class ShellPatternError(ValueError):
    """A pattern that cannot be read (the message says why)."""


class SimpleCommand(NamedTuple):
    """One simple command: its program's name, its options and its arguments, plus the
    position of its pipeline and its place in it."""

    program: str
    options: frozenset[str]  # "--force", and "-r", "-f" for "-rf"
    arguments: tuple[str, ...]
    pipeline: int
    stage: int


# One token piece at a time: blanks, an operator, a quoted string, an escaped character or
# a run of plain characters (pieces with no blank between them make one word, as in sh).
_LEX = re.compile(
    r"""(?P<blank>[ \t]+)"""
    r"""|(?P<op>\$\(|`|&&|\|\||;;|\|&|>>|<<<|<<|>&|<&|&>>|&>|>\||<>|[;&|()<>])"""
    r"""|'(?P<single>[^']*)'"""
    r'|"(?P<double>(?:[^"\\]|\\.)*)"'
    r"""|\\(?P<escaped>.)"""
    r"""|(?P<plain>(?:[^ \t;&|()<>'"\\`$]|\$(?!\())+)""",
    re.DOTALL,
)
_DOUBLE_ESCAPE = re.compile(r'\\([\\"$`\n])')


Token = tuple[str, bool]  # (text, whether it is an operator: a quoted ";" is a word)


def _tokens(line: str, inner: list[str] | None = None) -> list[Token]:
    """Words and operators of one line, quotes removed as a POSIX shell removes them
    (what ``shlex`` in punctuation mode gives, at C speed, except that ``$(`` and a
    backtick are operators: what follows is a command); ValueError on an open quote.
    A double-quoted string holding ``$(`` or a backtick is added to ``inner``: the shell
    runs what is in it."""
    out: list[Token] = []
    word: list[str] | None = None
    pos = 0
    for m in _LEX.finditer(line):
        if m.start() != pos:
            raise ValueError(f"cannot read {line[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "blank" or kind == "op":
            if word is not None:
                out.append(("".join(word), False))
                word = None
            if kind == "op":
                out.append((m.group("op"), True))
            continue
        piece = m.group(kind or "plain")
        if kind == "double":
            piece = _DOUBLE_ESCAPE.sub(r"\1", piece)
            if inner is not None and ("$(" in piece or "`" in piece):
                inner.append(piece.replace("$(", " ; ( ").replace("`", " ; "))
        (word := [] if word is None else word).append(piece)
    if pos != len(line):
        raise ValueError(f"no closing quotation in {line[pos:]!r}")
    if word is not None:
        out.append(("".join(word), False))
    return out


def _fallback_tokens(line: str) -> list[Token]:
    """Tokens of a line shlex cannot read (an open quote): words and operators, quotes
    dropped, so an unbalanced quote cannot hide a command."""
    return [
        (t.replace("'", "").replace('"', ""), t[0] in ";&|()<>`" or t.startswith("$("))
        for t in re.findall(r"\$\(|`|[;&|()<>]+|(?:[^\s;&|()<>`$]|\$(?!\())+", line)
    ]


def _lines(text: str) -> list[str]:
    # a backslash-newline joins lines; \r counts as a newline (a terminal's Enter)
    if "\\" in text:
        text = re.sub(r"\\\r?\n", "", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def parse_command_line(text: str, *, depth: int = 0) -> list[SimpleCommand]:
    """Every simple command in ``text`` (all its lines), wrappers and ``sh -c`` unwrapped."""
    out: list[SimpleCommand] = []
    pipeline = 0
    for line in _lines(text):
        inner: list[str] = []
        try:
            tokens = _tokens(line, inner)
        except ValueError:
            tokens = _fallback_tokens(line)
        words: list[str] = []
        stage = 0
        skip_next = False
        for tok, is_op in tokens:
            if skip_next and not is_op:
                skip_next = False
                continue  # the redirection's target is not an argument
            skip_next = False
            if not is_op:
                words.append(tok)
            elif _REDIRECT.match(tok):
                skip_next = True
            else:  # a pipe, or anything else that ends a simple command
                out.extend(_simple(words, pipeline, stage, depth))
                words = []
                if tok in _PIPES:
                    stage += 1
                else:
                    pipeline += 1
                    stage = 0
        out.extend(_simple(words, pipeline, stage, depth))
        pipeline += 1
        if depth < _MAX_DEPTH:
            for text_inside in inner:  # "…$(cmd)…": cmd runs too, in pipelines of its own
                for cmd in parse_command_line(text_inside, depth=depth + 1):
                    out.append(cmd._replace(pipeline=pipeline + cmd.pipeline))
                pipeline = out[-1].pipeline + 1 if out else pipeline
    return out


def _simple(words: list[str], pipeline: int, stage: int, depth: int) -> list[SimpleCommand]:
    i = 0
    while i < len(words):
        while i < len(words) and _ASSIGNMENT.match(words[i]):
            i += 1  # (after a wrapper too: reading more than the shell would is the safe side)
        if i >= len(words):
            break
        name = os.path.basename(words[i]) or words[i]
        wrapper = _WRAPPERS.get(name)
        if wrapper is None:
            break
        takes_value, leading = wrapper
        i += 1
        while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i])):
            opt = words[i]
            i += 1
            if opt == "--":
                break
            if opt in takes_value and "=" not in opt:
                i += 1
        i += leading
    if i >= len(words):
        return []
    program = os.path.basename(words[i]) or words[i]
    options: set[str] = set()
    arguments: list[str] = []
    only_args = False
    for word in words[i + 1 :]:
        if only_args or not word.startswith("-") or word == "-":
            arguments.append(word)
        elif word == "--":
            only_args = True
        elif word.startswith("--"):
            options.add(word.split("=", 1)[0])
        else:
            options.update(f"-{c}" for c in word[1:] if c.isalnum())
            options.add(word)  # "-rf" as written, too
    out = [SimpleCommand(program, frozenset(options), tuple(arguments), pipeline, stage)]
    if depth < _MAX_DEPTH:
        inner = _inner_command(program, words[i + 1 :])
        if inner is not None:
            out.extend(parse_command_line(inner, depth=depth + 1))
    return out


def _inner_command(program: str, rest: list[str]) -> str | None:
    """The command line a shell's ``-c`` or ``eval`` would run, if any."""
    if program == "eval" and rest:
        return " ".join(rest)
    if program in _SHELLS:
        for k, word in enumerate(rest):
            if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
                return rest[k + 1] if k + 1 < len(rest) else None
            if not word.startswith("-"):
                return None
    return None


@dataclass(frozen=True, slots=True)
class _Part:
    """One program pattern: alternatives for the name, required options, arguments."""

    programs: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]  # each: alternatives, one of which must be present
    arguments: tuple[tuple[str, ...], ...]  # each: glob alternatives, in order

    def matches(self, cmd: SimpleCommand) -> bool:
        if not any(fnmatch.fnmatchcase(cmd.program, p) for p in self.programs):
            return False
        for alternatives in self.options:
            if not any(_has_option(cmd.options, alt) for alt in alternatives):
                return False
        k = 0
        for alternatives in self.arguments:
            while k < len(cmd.arguments) and not any(
                fnmatch.fnmatchcase(cmd.arguments[k], g) for g in alternatives
            ):
                k += 1
            if k >= len(cmd.arguments):
                return False
            k += 1
        return True


def _has_option(present: frozenset[str], wanted: str) -> bool:
    if wanted.startswith("--") or len(wanted) == 2:
        return wanted in present
    # "-rf" in a pattern: every letter
    return all(f"-{c}" in present for c in wanted[1:])


@dataclass(frozen=True, slots=True)
class ShellPattern:
    """A compiled shell pattern (module docstring); ``search(text)`` says if it matches."""

    source: str
    parts: tuple[_Part, ...] = field(default=())

    @classmethod
    def compile(cls, pattern: str, *, root: str | None = None) -> ShellPattern:
        """``{root}`` in an argument stands for ``root`` (the project root), if given."""
        if not isinstance(pattern, str) or not pattern.strip():
            raise ShellPatternError("a shell pattern needs at least a program name")
        try:
            words = shlex.split(pattern, comments=False, posix=True)
        except ValueError as exc:
            raise ShellPatternError(f"cannot read {pattern!r}: {exc}") from None
        groups: list[list[str]] = [[]]
        for word in words:
            if word == "|":
                groups.append([])
            else:
                groups[-1].append(word)
        parts = []
        for group in groups:
            if not group:
                raise ShellPatternError(f"{pattern!r}: a '|' needs a program pattern on both sides")
            program, rest = group[0], group[1:]
            if program.startswith("-"):
                raise ShellPatternError(
                    f"{pattern!r}: starts with the option {program!r}; the first word is"
                    " the program (e.g. 'rm -rf /')"
                )
            options = tuple(tuple(w.split("|")) for w in rest if w.startswith("-"))
            arguments = tuple(
                tuple(_expand(alt, root) for alt in w.split("|"))
                for w in rest
                if not w.startswith("-")
            )
            parts.append(_Part(tuple(program.split("|")), options, arguments))
        return cls(pattern, tuple(parts))

    def search(self, text: str) -> bool:
        return self.match_commands(parse_command_line(text))

    def match_commands(self, commands: list[SimpleCommand]) -> bool:
        first, rest = self.parts[0], self.parts[1:]
        for k, cmd in enumerate(commands):
            if not first.matches(cmd):
                continue
            if not rest:
                return True
            stage, pipeline, ok = cmd.stage, cmd.pipeline, True
            later = commands[k + 1 :]
            for part in rest:
                found = next(
                    (
                        c
                        for c in later
                        if c.pipeline == pipeline and c.stage > stage and part.matches(c)
                    ),
                    None,
                )
                if found is None:
                    ok = False
                    break
                stage = found.stage
            if ok:
                return True
        return False


def _expand(glob: str, root: str | None) -> str:
    if "{root}" not in glob:
        return glob
    if root is None:
        return "\x00never"  # no project root known: this alternative matches nothing
    return glob.replace("{root}", glob_escape(root))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
