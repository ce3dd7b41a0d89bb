"""The agent-replay engine shared by the load generator service and the CLI.

:class:`LevelRunner` runs one concurrency level of closed-loop agents against an
OpenAI-compatible streaming endpoint and hands one ``RequestRecord`` per request sent to a
:class:`RecordSink` (the judge, or memory). See docs/loadgen.md for the semantics.
"""

from agentperf.loadgen.client import ChatClient, ClientSettings, Exchange
from agentperf.loadgen.level import Counters, EventKind, LevelEvent, LevelResult, LevelRunner, LevelSpec
from agentperf.loadgen.peers import JudgeSink, ToolSimTools
from agentperf.loadgen.records import RecordKey, build_record, parse_record_id
from agentperf.loadgen.sink import Delivery, MemorySink, RecordSink
from agentperf.loadgen.tools import LocalTools, ToolRunner

__all__ = [
    "ChatClient",
    "ClientSettings",
    "Counters",
    "Delivery",
    "EventKind",
    "Exchange",
    "JudgeSink",
    "LevelEvent",
    "LevelResult",
    "LevelRunner",
    "LevelSpec",
    "LocalTools",
    "MemorySink",
    "RecordKey",
    "RecordSink",
    "ToolRunner",
    "ToolSimTools",
    "build_record",
    "parse_record_id",
]
