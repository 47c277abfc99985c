"""An MCP server that answers ``tools/call`` with a malformed result.

The official SDK cannot be made to send one (it validates what it writes), so this speaks the
wire format by hand: newline-delimited JSON-RPC on stdio, the ``initialize`` handshake (it
refuses ``server/discover`` as an older server would), one tool ``broken`` whose result has
``content`` as a string instead of a list of content blocks.
"""

from __future__ import annotations

import json
import sys


def answer(msg_id: object, result: object = None, error: object = None) -> None:
    out: dict[str, object] = {"jsonrpc": "2.0", "id": msg_id}
    if error is not None:
        out["error"] = error
    else:
        out["result"] = result
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def main() -> None:
    for line in sys.stdin:
        msg = json.loads(line)
        method, msg_id = msg.get("method"), msg.get("id")
        if msg_id is None:
            continue  # a notification
        if method == "initialize":
            answer(
                msg_id,
                {
                    "protocolVersion": msg["params"]["protocolVersion"],
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "malformed", "version": "0"},
                },
            )
        elif method == "tools/list":
            schema = {"type": "object", "properties": {}}
            answer(msg_id, {"tools": [{"name": "broken", "inputSchema": schema}]})
        elif method == "tools/call":
            answer(msg_id, {"content": "this should be a list", "isError": "sometimes"})
        else:
            answer(msg_id, error={"code": -32601, "message": f"Method not found: {method}"})


if __name__ == "__main__":
    main()
