"""Raw HTTP/WebSocket handshakes, for what a browser or an attacker would send."""

from __future__ import annotations

import asyncio

HANDSHAKE = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]


async def http_get(
    port_or_path: int | str,
    headers: list[str],
    *,
    path: str = "/",
    upgrade: bool = True,
    within: float = 5.0,
) -> tuple[int, bytes]:
    """Send one GET with exactly ``headers`` (no implicit Host); return (status, body)."""
    if isinstance(port_or_path, int):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_or_path)
    else:
        reader, writer = await asyncio.open_unix_connection(port_or_path)
    try:
        lines = [f"GET {path} HTTP/1.1", *headers, *(HANDSHAKE if upgrade else []), "", ""]
        writer.write("\r\n".join(lines).encode())
        await writer.drain()
        async with asyncio.timeout(within):
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if status != 101 else b""
        return status, body
    finally:
        writer.close()
