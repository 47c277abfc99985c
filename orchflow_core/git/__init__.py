"""Git in core: status, diffs with hunks, staging per file or per hunk, commit, branches,
worktrees and log, through the ``git`` CLI run with safe settings (``runner.py``).

Why the CLI and not a library: measured on a 2000-file repository (benchmarks/bench_git.py)
``git status`` through pygit2 (libgit2) costs about what the CLI does, a diff costs more, and
dulwich (pure Python) is ~15x slower; the CLI adds no dependency, reads every repository
format the user's own git reads (index versions, extensions, sparse checkouts), and
``git apply --cached`` gives byte-exact hunk staging for free.
"""
