"""The request router: "run tests for authentication" -> test agent, ``pytest -k authentication``.

Tiers, in order (the first that decides is named in ``reason``):

1. learned: this project's feedback for this phrasing (normalised). An answer given three
   times (accepted or corrected to) wins outright with confidence 0.95.
2. lexicon: words and phrases with weights (lexicon.py) after normalisation: lower case,
   punctuation dropped, politeness and filler dropped, negated clauses ("don't build")
   dropped, typos corrected against the lexicon with rapidfuzz. Feedback on similar
   phrasings adds weight to the type it chose ("lean that way").
   The command comes from the project (project.py), preferring the most frecent command
   of that type in the history for the directory; arguments named in the request are
   carried over in the tool's syntax.
3. none: no type scores enough: agent_type null, confidence < 0.5, and the reason says so.

Pure and synchronous; route() costs well under a millisecond once the project is cached.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.router import lexicon
from orchflow_core.router.project import ProjectView

MAX_INPUT_CHARS = 2000
LEARN_THRESHOLD = 3
MIN_SCORE = 2.0  # below this the best type is not evidence enough: route nowhere
SIMILAR_CUTOFF = 80.0
STRONG_TYPO = 3.0  # a type reached only through corrected typos needs this much
MODE_LEAN = 1.0  # added to the active mode's first agent type (half to the others)
_VOCAB = lexicon.vocabulary()
_VOCAB_BY_LETTER: dict[str, list[str]] = {}
for _word in _VOCAB:
    _VOCAB_BY_LETTER.setdefault(_word[0], []).append(_word)
_KNOWN = (
    frozenset(_VOCAB)
    | lexicon.STOPWORDS
    | lexicon.NOT_TYPOS
    | frozenset(w for t in lexicon.WORDS.values() for w in t)
)
_TOKEN_RE = re.compile(r"[a-z0-9][a-z0-9_./'-]*")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# "tests for authentication", "the login tests", "test the parser", "tests in test_auth.py"
_ARG_AFTER_RE = re.compile(
    r"\b(?:for|about|on|in|around|matching|named|covering|of|against)\s+(?:the\s+|my\s+|our\s+)?"
    r"([a-z0-9_./-]{2,})"
)
_NOT_ARGS = (
    lexicon.STOPWORDS
    | frozenset(w for t in lexicon.WORDS.values() for w in t)
    | frozenset({"me", "release", "unit", "now", "flow", "project", "repo", "changes", "whole"})
)


_GENERIC_CMD_WORDS = frozenset(
    {
        "",
        "run",
        "make",
        "just",
        "python",
        "node",
        "m",
        "npm",
        "pnpm",
        "yarn",
        "bun",
        "cargo",
        "go",
        "check",
        "test",
        "build",
        "dev",
        "lint",
    }
)


def check_input(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"input must be a string, not {type(text).__name__}", param="input"
        )
    if not text.strip():
        raise InvalidArgumentError("input is empty", param="input")
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidArgumentError(
            f"input is {len(text)} characters; ai.route takes at most {MAX_INPUT_CHARS}",
            param="input",
        )
    bad = _CONTROL_RE.search(text)
    if bad:
        raise InvalidArgumentError(
            f"input looks binary: control character {bad.group()!r} at offset {bad.start()}",
            param="input",
        )
    return text


_typo_cache: dict[str, str | None] = {}


def _correct(token: str) -> str | None:
    """The lexicon word a misspelt token means, or None."""
    if token in _typo_cache:
        return _typo_cache[token]
    fixed: str | None = None
    if len(token) >= 4 and token.isalpha():
        # Same first letter: people rarely mistype it, and "hello" is not "shell".
        hit = process.extractOne(
            token, _VOCAB_BY_LETTER.get(token[0], []), scorer=fuzz.ratio, score_cutoff=74
        )
        if hit:
            fixed = hit[0]
    if len(_typo_cache) < 10_000:
        _typo_cache[token] = fixed
    return fixed


@dataclass
class Normalised:
    text: str  # lower case, punctuation dropped, typos corrected, negations kept
    tokens: list[str]  # scored tokens: no stopwords, no negated clause
    negated: list[str]
    typos: list[tuple[str, str]]
    key: str
    original: dict[str, str] = field(
        default_factory=dict
    )  # corrected -> as typed  # the phrasing key feedback is stored under

    def phrase(self) -> str:
        return " ".join(self.tokens)


def normalise(text: str) -> Normalised:
    lowered = text.lower().replace("\u2019", "'")
    raw = _TOKEN_RE.findall(lowered)
    words: list[str] = []
    typos: list[tuple[str, str]] = []
    for tok in raw:
        tok = tok.strip("'.-/")
        if not tok:
            continue
        if tok not in _KNOWN and not any(c.isdigit() for c in tok):
            fixed = _correct(tok)
            if fixed and fixed != tok:
                typos.append((tok, fixed))
                tok = fixed
        words.append(tok)
    tokens: list[str] = []
    negated: list[str] = []
    i = 0
    in_negation = False
    while i < len(words):
        w = words[i]
        two = f"{w} {words[i + 1]}" if i + 1 < len(words) else ""
        if w in {"don't", "dont", "never", "without", "skip", "except"} or two == "do not":
            in_negation = True
            i += 2 if two == "do not" else 1
            continue
        if in_negation and (w in lexicon.CLAUSE_BREAKS):
            in_negation = False
        if in_negation:
            # "check the code for problems without running it": running is only an action
            if w not in lexicon.STOPWORDS:
                negated.append(w)
        elif w not in lexicon.STOPWORDS:
            tokens.append(w)
        i += 1
    norm_text = " ".join(words)
    key = " ".join(sorted(set(tokens))) or norm_text
    return Normalised(norm_text, tokens, negated, typos, key, {b: a for a, b in typos})


@dataclass
class Learned:
    """Feedback for one project: phrasing key -> answer -> votes."""

    votes: dict[str, dict[tuple[str | None, str | None], float]] = field(default_factory=dict)
    rejects: dict[str, dict[tuple[str | None, str | None], int]] = field(default_factory=dict)

    def add(self, key: str, verdict: str, agent_type: str | None, command: str | None) -> None:
        answer = (agent_type, command)
        if verdict == "reject":
            bucket = self.rejects.setdefault(key, {})
            bucket[answer] = bucket.get(answer, 0) + 1
        else:
            bucket2 = self.votes.setdefault(key, {})
            bucket2[answer] = bucket2.get(answer, 0) + 1

    def decided(self, key: str) -> tuple[tuple[str | None, str | None], float] | None:
        answers = self.votes.get(key)
        if not answers:
            return None
        answer, count = max(answers.items(), key=lambda kv: kv[1])
        return (answer, count) if count >= LEARN_THRESHOLD else None

    def similar(
        self, key: str
    ) -> list[tuple[str, float, dict[tuple[str | None, str | None], float]]]:
        if not self.votes or not key:
            return []
        hits = process.extract(
            key,
            list(self.votes),
            scorer=fuzz.token_set_ratio,
            score_cutoff=SIMILAR_CUTOFF,
            limit=5,
        )
        return [(k, score, self.votes[k]) for k, score, _ in hits if k != key]


@dataclass
class Route:
    agent_type: str | None
    suggested_command: str | None
    confidence: float
    reason: str
    tier: str
    alternatives: list[dict[str, Any]]
    arguments: list[str]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_type": self.agent_type,
            "suggested_command": self.suggested_command,
            "confidence": round(self.confidence, 3),
            "reason": self.reason,
            "tier": self.tier,
            "source": self.source,
            "arguments": self.arguments,
            "alternatives": self.alternatives,
        }


def score(norm: Normalised) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores = dict.fromkeys(lexicon.ROUTED_TYPES, 0.0)
    evidence: dict[str, list[str]] = {t: [] for t in lexicon.ROUTED_TYPES}
    for tok in norm.tokens:
        for agent_type, table in lexicon.WORDS.items():
            weight = table.get(tok)
            if weight:
                scores[agent_type] += weight
                evidence[agent_type].append(tok)
    kept = " ".join(norm.tokens)
    full = norm.text
    for agent_type, table in lexicon.PHRASES.items():
        for phrase, weight in table.items():
            if phrase in kept or (
                phrase in full and not any(n in phrase.split() for n in norm.negated)
            ):
                scores[agent_type] += weight
                evidence[agent_type].append(f'"{phrase}"')
    # "generate unit tests for X", "write a build script": code to write is an AI's work.
    if norm.tokens and norm.tokens[0] in lexicon.AI_CREATION:
        scores["ai"] += 3.0
        evidence["ai"].append(f"starts with {norm.tokens[0]!r}")
    return scores, evidence


def extract_arguments(norm: Normalised, agent_type: str | None) -> list[str]:
    intent = lexicon.WORDS.get(agent_type or "", {})
    # A word corrected towards another type's vocabulary was a name, not a typo ("login").
    words = [norm.original.get(w, w) if w not in intent else w for w in norm.text.split()]
    tokens = [norm.original.get(w, w) if w not in intent else w for w in norm.tokens]
    text = " ".join(w for w in words if w not in lexicon.NEGATORS)
    found: list[str] = []
    for m in _ARG_AFTER_RE.finditer(text):
        word = m.group(1)
        if word not in _NOT_ARGS and word not in found:
            found.append(word)
    if agent_type == "test" and not found:
        # "the login tests", "run the parser tests", "test the login flow"
        for i, tok in enumerate(tokens):
            if tok in {"test", "tests", "spec", "specs"}:
                for j in (i - 1, i + 1):
                    if 0 <= j < len(tokens):
                        cand = tokens[j]
                        if cand not in _NOT_ARGS and cand not in found and len(cand) > 2:
                            found.append(cand)
                            break
            if found:
                break
    return found[:1]


def with_arguments(
    view: ProjectView, agent_type: str, command: str, args: list[str]
) -> tuple[str, str | None]:
    """``command`` with ``args`` in its tool's syntax, and a note when they cannot be passed."""
    if not args:
        return command, None
    arg = args[0]
    words = command.split()
    if agent_type == "test":
        if words[0] == "pytest":
            return f"{command} -k {arg}", None
        if words[:2] == ["cargo", "test"]:
            return f"cargo test {arg}", None
        if words[:2] == ["go", "test"]:
            pattern = arg[:1].upper() + arg[1:]
            return f"go test -run {pattern} {' '.join(words[2:]) or './...'}", None
        if words[0] in {"npm", "pnpm", "yarn", "bun"}:
            flag = {"vitest": "-t", "jest": "-t", "mocha": "--grep"}.get(
                view.test_runner or "", "--grep"
            )
            return f"{command} -- {flag} {arg}", None
        if words[0] == "make" and len(words) == 2:
            var = view.make_args_var.get(words[1])
            if var:
                return f"{command} {var}={arg}", None
            return command, f"make {words[1]} passes no arguments on, so {arg!r} is dropped"
        return command, f"{words[0]} takes no filter orchflow knows, so {arg!r} is dropped"
    if (
        agent_type == "lint"
        and ("/" in arg or "." in arg)
        and words[0] in {"ruff", "mypy", "eslint"}
    ):
        return " ".join([w for w in words if w != "."] + [arg]), None
    return command, None


def command_type(command: str) -> str | None:
    low = command.strip().lower()
    for agent_type, prefixes in lexicon.COMMAND_WORDS.items():
        for prefix in prefixes:
            if low == prefix or low.startswith(prefix + " "):
                return agent_type
    for part in ("run ", "test", "lint", "build", "dev"):
        if part in low:
            for agent_type in ("test", "lint", "build", "dev"):
                if f"run {agent_type}" in low or low.endswith(f" {agent_type}"):
                    return agent_type
    return None


def _confidence(best: float, second: float) -> float:
    strength = min(1.0, best / 6.0)
    margin = (best - second) / best if best else 0.0
    return 0.5 + 0.45 * (0.5 * strength + 0.5 * margin)


def route(
    text: str,
    view: ProjectView | None,
    *,
    history: Sequence[tuple[str, float]] = (),
    learned: Learned | None = None,
    mode: str | None = None,
    mode_types: Sequence[str] = (),
    agent: str | None = None,
    no_project_reason: str | None = None,
) -> Route:
    """Route ``text`` (already checked) for the project ``view``.

    ``history``: (command, frecency) of this directory, most frecent first.
    ``mode``/``mode_types``: the active mode and the agent types it prefers.
    """
    norm = normalise(text)
    typo_note = "; typos: " + ", ".join(f"{a}->{b}" for a, b in norm.typos) if norm.typos else ""
    learned = learned or Learned()
    decided = learned.decided(norm.key)
    scores, evidence = score(norm)
    lean_note = ""
    for key, sim, answers in learned.similar(norm.key):
        for (agent_type, _cmd), votes in answers.items():
            if agent_type in scores:
                bonus = min(4.0, 1.5 * votes) * sim / 100.0
                scores[agent_type] += bonus
                evidence[agent_type].append(f"feedback on {key!r}")
                lean_note = f"; leaning on feedback for the similar {key!r}"
    if view is not None:
        # The project's own entry-point names ("run ledger", "make check") are evidence.
        for agent_type, cmds in view.commands.items():
            if agent_type not in scores:
                continue
            for cmd, _src in cmds:
                names = set(re.split(r"[\s:/_.-]+", cmd.lower())) - _GENERIC_CMD_WORDS
                hit = next((t for t in norm.tokens if t in names), None)
                if hit:
                    scores[agent_type] += 3.0
                    evidence[agent_type].append(f"project command {cmd!r}")
                    break
    # The active mode leans to its agent types, among those the request gives evidence for.
    mode_note = ""
    if mode is not None and mode_types:
        leaned = []
        for i, agent_type in enumerate(mode_types):
            if scores.get(agent_type, 0.0) > 0:
                scores[agent_type] += MODE_LEAN if i == 0 else MODE_LEAN / 2
                evidence[agent_type].append(f"mode {mode}")
                leaned.append(agent_type)
        mode_note = f"; mode {mode} prefers {', '.join(mode_types)}" + (
            f" (leaned to {', '.join(leaned)})" if leaned else ""
        )
    if agent in scores and scores[agent] > 0:
        scores[agent] += 0.25
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best_type, best = ranked[0]
    second = ranked[1][1]

    if decided is not None:
        (agent_type, command), votes = decided
        args = extract_arguments(norm, agent_type)
        return Route(
            agent_type,
            command,
            0.95,
            f"learned: this phrasing was answered {agent_type} / {command or 'no command'} "
            f"{int(votes)} times in this project{mode_note}",
            "learned",
            _alternatives(view, ranked, skip=agent_type),
            args,
            "feedback",
        )
    # A weak word reached only by correcting a typo is no evidence: "lunch" is not a
    # misspelt "launch", though "tset" is "test" (a strong word).
    typo_only = bool(evidence[best_type]) and all(e in norm.original for e in evidence[best_type])
    if typo_only and best < STRONG_TYPO:
        corrected = ", ".join(f"{norm.original[e]}->{e}" for e in evidence[best_type])
        return Route(
            None,
            None,
            round(min(0.45, best / MIN_SCORE * 0.45) * 0.5, 3),
            f"none: the only evidence is the corrected typo {corrected}, too weak to act on"
            f" (score {best:.1f} < {STRONG_TYPO}){mode_note}",
            "none",
            _alternatives(view, ranked, skip=None, limit=2, min_score=0.5),
            [],
        )
    if best < MIN_SCORE:
        why = (
            f"none: no tier matched (best {best_type} at {best:.1f} < {MIN_SCORE}"
            f"{', evidence ' + ', '.join(evidence[best_type]) if evidence[best_type] else ''})"
            f"{typo_note}{mode_note}"
        )
        return Route(
            None,
            None,
            round(min(0.45, best / MIN_SCORE * 0.45), 3),
            why,
            "none",
            _alternatives(view, ranked, skip=None, limit=2, min_score=0.5),
            [],
        )
    confidence = _confidence(best, second)
    rejected = learned.rejects.get(norm.key, {})
    args = extract_arguments(norm, best_type)
    command, source, note = _command(view, best_type, args, history, norm)
    penalty = rejected.get((best_type, command), 0)
    if penalty:
        confidence = max(0.3, confidence - 0.15 * penalty)
    reason = (
        f"lexicon: {best_type} from {', '.join(evidence[best_type])} "
        f"(score {best:.1f}, next {ranked[1][0]} {second:.1f})"
    )
    if command:
        reason += f"; command from {source}"
    elif best_type != "ai":
        reason += f"; no command: {note or 'the project has none for ' + best_type}"
    if note and command:
        reason += f"; {note}"
    if no_project_reason and not command and best_type != "ai":
        reason += f"; {no_project_reason}"
    if penalty:
        reason += f"; rejected {penalty} time(s) before"
    return Route(
        best_type,
        command,
        confidence,
        reason + typo_note + lean_note + mode_note,
        "lexicon",
        _alternatives(view, ranked, skip=best_type),
        args,
        source,
    )


def _command(
    view: ProjectView | None,
    agent_type: str,
    args: list[str],
    history: Sequence[tuple[str, float]],
    norm: Normalised,
) -> tuple[str | None, str | None, str | None]:
    if agent_type == "ai":
        return None, None, None
    candidates = list(view.commands.get(agent_type, [])) if view else []
    # "typecheck", "run the type checker": the project's own type checker (mypy, tsc, ...).
    if (
        view is not None
        and view.type_checker
        and agent_type in {"lint", "build"}
        and any(t in lexicon.TYPECHECK_WORDS for t in norm.tokens)
    ):
        cmd, src = view.type_checker
        return cmd, src, None
    # A named tool or entry point picks among the project's commands ("run mypy", "make
    # test-integration").
    for cmd, src in candidates:
        words = set(re.split(r"[\s:/_-]+", cmd.lower()))
        if any(
            t in words and t not in {"run", "make", "just", "python", "-m", "."} and t != agent_type
            for t in norm.tokens
        ):
            command, note = with_arguments(view, agent_type, cmd, args) if view else (cmd, None)
            return command, src, note
    for cmd, frecency in history:
        if (
            not args
            and command_type(cmd) == agent_type
            and (not candidates or any(cmd.startswith(c) for c, _ in candidates))
        ):
            return cmd, f"history (frecency {frecency:.1f} in this directory)", None
    if not candidates:
        if view is None:
            return None, None, "no project directory"
        reason = view.detected.commands.get(agent_type)
        return None, None, (reason.reason if reason and reason.reason else None)
    cmd, src = candidates[0]
    command, note = with_arguments(view, agent_type, cmd, args) if view else (cmd, None)
    return command, src, note


def _alternatives(
    view: ProjectView | None,
    ranked: list[tuple[str, float]],
    *,
    skip: str | None,
    limit: int = 3,
    min_score: float = 1.0,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    top = ranked[0][1] or 1.0
    for agent_type, value in ranked:
        if agent_type == skip or value < min_score:
            continue
        first = view.first(agent_type) if view else None
        out.append(
            {
                "agent_type": agent_type,
                "command": first[0] if first else None,
                "confidence": round(min(0.49, 0.45 * value / top), 3),
            }
        )
        if len(out) >= limit:
            break
    return out
