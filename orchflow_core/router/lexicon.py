"""Words and phrases that point at an agent type, with weights (the router's fast tier).

A weight is evidence, not probability: the router sums the weights of the words it finds,
and the margin between the best and the second-best type sets the confidence. Tool names
(pytest, clippy) weigh most; everyday verbs (run, check) weigh least.
"""

from __future__ import annotations

ROUTED_TYPES = ("dev", "test", "repl", "build", "lint", "ai")

WORDS: dict[str, dict[str, float]] = {
    "test": {
        "test": 3.0, "tests": 3.0, "testing": 3.0, "tested": 2.5, "spec": 2.5, "specs": 2.5,
        "suite": 2.0, "unittest": 3.0, "pytest": 4.0, "jest": 4.0, "vitest": 4.0,
        "mocha": 4.0, "green": 1.5, "pass": 1.5, "passing": 2.0, "failing": 1.0,
        "coverage": 2.5, "e2e": 3.0, "verify": 2.0, "broken": 1.5, "regression": 2.0,
        "tdd": 2.0,
    },
    "dev": {
        "dev": 2.5, "server": 2.5, "serve": 3.0, "serving": 2.5, "start": 1.5, "launch": 2.0,
        "app": 1.5, "application": 1.5, "localhost": 3.0, "locally": 1.5, "running": 1.0,
        "boot": 2.0, "backend": 1.5, "frontend": 1.5, "website": 1.5, "site": 1.0,
        "watch": 1.5, "reload": 1.5, "up": 0.5, "fire": 1.0, "spin": 1.0, "develop": 2.0,
        "development": 2.0, "run": 0.5,
    },
    "build": {
        "build": 3.0, "builds": 3.0, "building": 3.0, "compile": 3.5, "compiles": 3.5,
        "compiling": 3.5, "bundle": 3.0, "package": 2.0, "release": 2.0, "artifact": 2.5,
        "artifacts": 2.5, "binary": 2.0, "dist": 2.5, "wheel": 2.5, "production": 1.5,
        "webpack": 3.0, "tsc": 3.0, "vite": 2.0, "rollup": 3.0, "esbuild": 3.0, "make": 0.5,
    },
    "lint": {
        "lint": 3.5, "linter": 3.5, "linting": 3.5, "lints": 3.5, "style": 2.0,
        "clippy": 4.0, "ruff": 4.0, "eslint": 4.0, "flake8": 4.0, "pylint": 4.0, "vet": 3.0,
        "mypy": 4.0, "typecheck": 3.5, "cppcheck": 4.0, "warnings": 2.0, "smells": 2.5,
        "smell": 2.5, "static": 2.0, "analysis": 1.5, "analyze": 1.5, "problems": 1.0,
        "check": 1.0, "format": 1.0, "formatting": 1.0,
    },
    "repl": {
        "repl": 4.0, "shell": 2.0, "console": 2.5, "interactive": 3.0, "interpreter": 3.5,
        "ipython": 4.0, "irb": 4.0, "prompt": 1.0, "try": 1.0, "playground": 2.5,
    },
    "ai": {
        "explain": 4.0, "refactor": 4.0, "rewrite": 3.5, "write": 3.0, "implement": 3.5,
        "why": 3.0, "what": 1.0, "how": 1.5, "does": 0.5, "add": 2.0, "docstrings": 3.0,
        "docstring": 3.0, "document": 2.5, "comments": 2.0, "rename": 3.0, "review": 3.5,
        "fix": 3.0, "bug": 2.0, "crash": 2.0, "crashes": 2.0, "generate": 3.0,
        "function": 1.5, "class": 1.0, "module": 1.0, "code": 0.5, "endpoint": 1.0,
        "summarize": 3.5, "optimize": 3.0, "migrate": 2.0, "change": 1.0, "logic": 1.0,
        "everywhere": 1.0, "describe": 3.0, "debug": 2.5, "understand": 2.5,
    },
}

# Multi-word evidence, matched on the normalised text (after typo correction).
PHRASES: dict[str, dict[str, float]] = {
    "test": {"still pass": 3.0, "nothing is broken": 2.5, "whole suite": 3.0,
             "test run": 2.0, "go test": 4.0, "cargo test": 4.0, "make test": 4.0},
    "dev": {"dev server": 3.0, "run the app": 3.5, "spin up": 2.5, "fire up": 2.5,
            "see the app": 2.5, "go run": 4.0, "cargo run": 4.0, "make run": 4.0,
            "run it": 1.5},
    "build": {"go build": 4.0, "make build": 4.0, "cargo build": 4.0, "for release": 1.5,
              "production build": 2.0, "package it": 2.5},
    "lint": {"code style": 3.0, "static analysis": 3.5, "without running": 2.0,
             "go vet": 4.0, "code smells": 2.0},
    "repl": {"try something": 2.0, "python shell": 3.5, "node repl": 2.0},
    "ai": {"what does": 3.0, "how does": 3.0, "unit tests for": 1.0, "add docstrings": 2.0},
}

# Phrases that say "write code about X": the request is for an AI agent even when X is a
# test or a build ("generate unit tests for the parser", "write a build script").
AI_CREATION = ("generate", "write", "implement", "add", "create", "refactor", "explain",
               "fix", "rewrite", "review")

# Dropped before scoring: politeness, filler, pronouns.
STOPWORDS = frozenset(
    """please pls plz kindly could would can you u i i'd id i'm im want wanna like to me my
    for the a an this that these those it its is are be been am do just now quickly quick
    hey hi ok okay thanks thank cheers let's lets let us we our go ahead some all
    everything again real quick whether if whole of on in with and or then""".split()
)
NEGATORS = frozenset({"don't", "dont", "do not", "not", "no", "never", "without", "skip",
                      "but", "except"})
# A negation covers the words after it up to one of these.
CLAUSE_BREAKS = frozenset({"just", "only", "instead", "but", "then", "and"})

# Commands seen in history or written by users, mapped to a type by their first words.
COMMAND_WORDS = {
    "test": ("pytest", "jest", "vitest", "mocha", "go test", "cargo test", "npm test",
             "pnpm test", "yarn test", "bun test", "make test", "just test", "tox"),
    "lint": ("ruff", "mypy", "eslint", "flake8", "pylint", "cargo clippy", "go vet",
             "make lint", "just lint", "golangci-lint"),
    "build": ("cargo build", "go build", "make build", "python -m build", "tsc", "webpack",
              "just build"),
    "dev": ("cargo run", "go run", "make run", "make dev", "just dev", "just run"),
    "repl": ("python", "ipython", "node", "irb", "bpython"),
}


def vocabulary() -> list[str]:
    """Every word the lexicon knows (the targets of typo correction)."""
    words: set[str] = set()
    for table in WORDS.values():
        words.update(table)
    for table in PHRASES.values():
        for phrase in table:
            words.update(phrase.split())
    return sorted(w for w in words if len(w) >= 3)
