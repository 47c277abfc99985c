"""``last_message`` in an ACP agent's view (the agents float's LAST column): a real
orchestrator process, the scripted agent (a stand-in for a paid model: scripted_agent.py)."""

from __future__ import annotations

from tests.orchestrator.acp.conftest import Watcher, wait_state
from tests.orchestrator.server_process import OrchestratorProcess


async def test_last_message_is_the_newest_message_run(
    acp_orch: OrchestratorProcess, watcher: Watcher
) -> None:
    client = watcher.client
    agent = await client.call("agent.create", {"type": "ai", "agent": "scripted", "name": "talker"})
    idle = await wait_state(client, agent["id"], {"idle"})
    assert idle["last_message"] is None  # nothing said yet
    await client.call("agent.prompt", {"id": "talker", "text": "hello"})
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["turn_id"] == "t1")
    # thought, plan, "Hello " + "there.", then a usage update: the run of message chunks
    listed = await client.call("agent.list")
    assert next(a for a in listed if a["id"] == agent["id"])["last_message"] == "Hello there."
    await client.call("agent.prompt", {"id": "talker", "text": "flood: 3"})
    await watcher.wait_for(lambda m, p: m == "agent.turn" and p["turn_id"] == "t2")
    got = await client.call("agent.get", {"id": "talker"})
    assert got["last_message"] == "0 1 2"  # the new turn's answer, not the old one's


def test_last_message_keeps_the_tail_and_stops_at_another_kind() -> None:
    from orchestrator.agents.last_message import last_message

    updates = [
        {"kind": "message", "text": "old answer"},
        {"kind": "tool_call", "text": "[tool c1] Run\n"},
        {"kind": "message", "text": "\nfirst "},
        {"kind": "message", "text": "x" * 600},
        {"kind": "usage", "text": "[usage] 1/2 tokens\n"},
    ]
    text = last_message(updates, max_chars=500)
    assert text == "x" * 500
    assert last_message(updates[:3]) == "first"
    assert last_message([{"kind": "thought", "text": "hmm"}]) is None
