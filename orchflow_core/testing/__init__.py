"""The test runner: detect test frameworks in a project, run their suites in a visible tmux
pane (``test.*`` methods), and read the results from the framework's machine-readable
output so the counts equal the framework's own summary.

Supported: pytest (under ``pytest_runner.py``, a recorder plugin), unittest (under
``unittest_runner.py``, a JSON result recorder), jest (``--json``), go test
(``go test -json``), cargo test (libtest's text lines; its JSON needs nightly) and a Makefile
``test``/``check`` target (exit code only: make has no machine-readable output).
It is core for now; it will be packaged as a module when the module system lands (issue 15).
"""
