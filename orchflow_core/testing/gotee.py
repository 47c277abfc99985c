"""Shows ``go test -json`` as readable text in the test pane while saving every line to a
file: ``go test -json ./... 2>&1 | python gotee.py REPORT``. Exits 1 when a test or package
failed, else 0. Standalone (no orchflow imports): it runs in the pane's shell."""

import json
import sys


def main() -> int:
    failed = False
    with open(sys.argv[1], "w", encoding="utf-8") as report:
        for line in sys.stdin:
            report.write(line)
            report.flush()
            try:
                ev = json.loads(line)
            except ValueError:
                sys.stdout.write(line)
                failed = failed or line.startswith("FAIL")  # a build failure (Go < 1.24)
                continue
            if not isinstance(ev, dict):
                continue
            if ev.get("Action") == "output":
                sys.stdout.write(ev.get("Output", ""))
            elif ev.get("Action") == "fail":
                failed = True
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
