"""Record identity and the one place an :class:`Exchange` becomes a ``RequestRecord``.

record_id format (stable, unique per request, also sent as ``X-Request-Id``)::

    <run>/<level>/<agent>/<traj_seq>/<trajectory_id>/<phase>/<turn>

``agent`` is the global agent number within the level, ``traj_seq`` counts the trajectories
that agent started (0, 1, ...), ``phase`` and ``turn`` are 0-based indices within the
trajectory. The run id never contains ``/``; a trajectory id may, so a parser takes four
fields from the left and two from the right (:func:`parse_record_id`).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentperf.loadgen.client import Exchange
from agentperf.v1 import common_pb2

OK = common_pb2.REQUEST_STATUS_OK
FAILED = common_pb2.REQUEST_STATUS_FAILED
CENSORED = common_pb2.REQUEST_STATUS_CENSORED


@dataclass(frozen=True, slots=True)
class RecordKey:
    """The fields a record_id is made of."""

    run_id: str
    level: int
    agent: int
    traj_seq: int
    trajectory_id: str
    phase: int
    turn: int

    def record_id(self) -> str:
        return (
            f"{self.run_id}/{self.level}/{self.agent}/{self.traj_seq}/"
            f"{self.trajectory_id}/{self.phase}/{self.turn}"
        )

    def tool_key(self) -> str:
        """The toolsim key of the tool call after this turn: ``<run>/<level>/<agent>/<seq>/<phase>/<turn>``."""
        return f"{self.run_id}/{self.level}/{self.agent}/{self.traj_seq}/{self.phase}/{self.turn}"


def parse_record_id(record_id: str) -> RecordKey:
    """Inverse of :meth:`RecordKey.record_id`; raises ValueError on a malformed id."""
    parts = record_id.split("/")
    if len(parts) < 7:
        raise ValueError(f"record_id {record_id!r}: expected at least 7 '/'-separated fields")
    run_id, level, agent, seq = parts[:4]
    return RecordKey(
        run_id, int(level), int(agent), int(seq), "/".join(parts[4:-2]), int(parts[-2]), int(parts[-1])
    )


def build_record(
    key: RecordKey, ex: Exchange, *, in_window: bool, close_mono: float | None = None, shard: int = 0
) -> common_pb2.RequestRecord:
    """The record of one request; ``close_mono`` set means it was cut off by the window close.

    ``shard`` is the load generator's shard index (the judge keeps one sketch per shard).
    """
    rec = common_pb2.RequestRecord(
        record_id=key.record_id(),
        run_id=key.run_id,
        level=key.level,
        agent=key.agent,
        trajectory_id=key.trajectory_id,
        phase=key.phase,
        turn=key.turn,
        in_window=in_window,
        shard=shard,
        send_unix_s=ex.send_unix,
        http_status=ex.http_status,
        prompt_tokens=ex.usage_prompt,
        cached_tokens=ex.usage_cached,
    )
    if ex.t_first:
        rec.has_first_token = True
        rec.ttft_s = ex.t_first - ex.t_send
        rec.ttfa_s = ex.t_answer - ex.t_send if ex.t_answer else 0.0
        rec.first_to_last_s = ex.t_last - ex.t_first
        rec.output_tokens = ex.output_tokens
        rec.first_chunk_tokens = ex.first_chunk_tokens
        rec.chunks = ex.chunks
        rec.max_chunk_gap_s = ex.gap_max
    if close_mono is not None:
        rec.status = CENSORED
        if not ex.t_first:
            rec.waited_s = max(0.0, close_mono - ex.t_send)
    elif ex.failure:
        rec.status = FAILED
        rec.failure_class = ex.failure
    else:
        rec.status = OK
    return rec
