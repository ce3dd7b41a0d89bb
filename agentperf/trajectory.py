"""The trajectory model every component shares: trajectory -> phases -> turns.

Plain frozen dataclasses (no gRPC, no I/O) plus the one conversion to and from the
``agentperf.v1.Trajectory`` message. A phase is a stretch in which context accumulates;
request k of a phase carries the dynamic prefix, the phase preamble, every earlier turn's
input and output, and turn k's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentperf.v1 import common_pb2

TOOL_CLASSES = ("read", "search", "edit", "test", "shell", "other")


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    tool_class: str = "other"
    recorded_duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Turn:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    tool: ToolCall | None = None
    input_text: str = ""
    output_text: str = ""


@dataclass(frozen=True, slots=True)
class Phase:
    turns: tuple[Turn, ...]
    preamble_tokens: int = 0
    preamble_text: str = ""


@dataclass(frozen=True, slots=True)
class Trajectory:
    id: str
    phases: tuple[Phase, ...]
    dataset: str = ""
    index: int = 0
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def turn_count(self) -> int:
        return sum(len(p.turns) for p in self.phases)


def turn_to_proto(turn: Turn) -> common_pb2.Turn:
    msg = common_pb2.Turn(
        input_tokens=turn.input_tokens,
        output_tokens=turn.output_tokens,
        cached_tokens=turn.cached_tokens,
        input_text=turn.input_text,
        output_text=turn.output_text,
    )
    if turn.tool is not None:
        msg.has_tool = True
        msg.tool.name = turn.tool.name
        msg.tool.tool_class = turn.tool.tool_class
        msg.tool.recorded_duration_s = turn.tool.recorded_duration_s
    return msg


def to_proto(traj: Trajectory) -> common_pb2.Trajectory:
    return common_pb2.Trajectory(
        id=traj.id,
        dataset=traj.dataset,
        index=traj.index,
        meta=traj.meta,
        phases=[
            common_pb2.Phase(
                preamble_tokens=p.preamble_tokens,
                preamble_text=p.preamble_text,
                turns=[turn_to_proto(t) for t in p.turns],
            )
            for p in traj.phases
        ],
    )


def turn_from_proto(msg: common_pb2.Turn) -> Turn:
    tool = None
    if msg.has_tool:
        tool = ToolCall(msg.tool.name, msg.tool.tool_class or "other", msg.tool.recorded_duration_s)
    return Turn(
        input_tokens=msg.input_tokens,
        output_tokens=msg.output_tokens,
        cached_tokens=msg.cached_tokens,
        tool=tool,
        input_text=msg.input_text,
        output_text=msg.output_text,
    )


def from_proto(msg: common_pb2.Trajectory) -> Trajectory:
    return Trajectory(
        id=msg.id,
        dataset=msg.dataset,
        index=msg.index,
        meta=dict(msg.meta),
        phases=tuple(
            Phase(
                turns=tuple(turn_from_proto(t) for t in p.turns),
                preamble_tokens=p.preamble_tokens,
                preamble_text=p.preamble_text,
            )
            for p in msg.phases
        ),
    )
