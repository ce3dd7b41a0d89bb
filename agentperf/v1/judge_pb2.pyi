from agentperf.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_PHASE_UNSPECIFIED: _ClassVar[RunPhase]
    RUN_PHASE_RUNNING: _ClassVar[RunPhase]
    RUN_PHASE_FINISHED: _ClassVar[RunPhase]
    RUN_PHASE_INTERRUPTED: _ClassVar[RunPhase]
    RUN_PHASE_ERROR: _ClassVar[RunPhase]
RUN_PHASE_UNSPECIFIED: RunPhase
RUN_PHASE_RUNNING: RunPhase
RUN_PHASE_FINISHED: RunPhase
RUN_PHASE_INTERRUPTED: RunPhase
RUN_PHASE_ERROR: RunPhase

class IngestSummary(_message.Message):
    __slots__ = ("accepted", "duplicates")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("run_id", "level", "tiers", "expect_records", "wait_timeout_s", "window_s", "preview", "confidence", "merge_run_ids")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    WAIT_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MERGE_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    level: int
    tiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.SloTier]
    expect_records: int
    wait_timeout_s: float
    window_s: float
    preview: bool
    confidence: float
    merge_run_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., level: _Optional[int] = ..., tiers: _Optional[_Iterable[_Union[_common_pb2.SloTier, _Mapping]]] = ..., expect_records: _Optional[int] = ..., wait_timeout_s: _Optional[float] = ..., window_s: _Optional[float] = ..., preview: _Optional[bool] = ..., confidence: _Optional[float] = ..., merge_run_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetRunStatsRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class LevelCount(_message.Message):
    __slots__ = ("level", "records")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    level: int
    records: int
    def __init__(self, level: _Optional[int] = ..., records: _Optional[int] = ...) -> None: ...

class RunStats(_message.Message):
    __slots__ = ("run_id", "records", "levels")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    records: int
    levels: _containers.RepeatedCompositeFieldContainer[LevelCount]
    def __init__(self, run_id: _Optional[str] = ..., records: _Optional[int] = ..., levels: _Optional[_Iterable[_Union[LevelCount, _Mapping]]] = ...) -> None: ...

class QuantileSketch(_message.Message):
    __slots__ = ("relative_accuracy", "zero_count", "keys", "counts", "min", "max")
    RELATIVE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ZERO_COUNT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    relative_accuracy: float
    zero_count: int
    keys: _containers.RepeatedScalarFieldContainer[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    min: float
    max: float
    def __init__(self, relative_accuracy: _Optional[float] = ..., zero_count: _Optional[int] = ..., keys: _Optional[_Iterable[int]] = ..., counts: _Optional[_Iterable[int]] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class LevelAggregate(_message.Message):
    __slots__ = ("records_total", "records_window", "failed", "no_token", "censored", "censored_waits_s", "output_tokens", "first_send_unix_s", "last_seen_unix_s", "ttft", "speed")
    RECORDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RECORDS_WINDOW_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    NO_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CENSORED_FIELD_NUMBER: _ClassVar[int]
    CENSORED_WAITS_S_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEND_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    TTFT_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    records_total: int
    records_window: int
    failed: int
    no_token: int
    censored: int
    censored_waits_s: _containers.RepeatedScalarFieldContainer[float]
    output_tokens: int
    first_send_unix_s: float
    last_seen_unix_s: float
    ttft: QuantileSketch
    speed: QuantileSketch
    def __init__(self, records_total: _Optional[int] = ..., records_window: _Optional[int] = ..., failed: _Optional[int] = ..., no_token: _Optional[int] = ..., censored: _Optional[int] = ..., censored_waits_s: _Optional[_Iterable[float]] = ..., output_tokens: _Optional[int] = ..., first_send_unix_s: _Optional[float] = ..., last_seen_unix_s: _Optional[float] = ..., ttft: _Optional[_Union[QuantileSketch, _Mapping]] = ..., speed: _Optional[_Union[QuantileSketch, _Mapping]] = ...) -> None: ...

class TierAnswer(_message.Message):
    __slots__ = ("tier", "max_agents", "lowest_failing", "converged", "inconclusive", "client_limited", "non_monotone", "agents_per_gpu", "agents_per_mw", "p95_ttft_s", "p25_output_speed")
    TIER_FIELD_NUMBER: _ClassVar[int]
    MAX_AGENTS_FIELD_NUMBER: _ClassVar[int]
    LOWEST_FAILING_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    INCONCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIMITED_FIELD_NUMBER: _ClassVar[int]
    NON_MONOTONE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_PER_GPU_FIELD_NUMBER: _ClassVar[int]
    AGENTS_PER_MW_FIELD_NUMBER: _ClassVar[int]
    P95_TTFT_S_FIELD_NUMBER: _ClassVar[int]
    P25_OUTPUT_SPEED_FIELD_NUMBER: _ClassVar[int]
    tier: _common_pb2.SloTier
    max_agents: int
    lowest_failing: int
    converged: bool
    inconclusive: bool
    client_limited: bool
    non_monotone: bool
    agents_per_gpu: float
    agents_per_mw: float
    p95_ttft_s: float
    p25_output_speed: float
    def __init__(self, tier: _Optional[_Union[_common_pb2.SloTier, _Mapping]] = ..., max_agents: _Optional[int] = ..., lowest_failing: _Optional[int] = ..., converged: _Optional[bool] = ..., inconclusive: _Optional[bool] = ..., client_limited: _Optional[bool] = ..., non_monotone: _Optional[bool] = ..., agents_per_gpu: _Optional[float] = ..., agents_per_mw: _Optional[float] = ..., p95_ttft_s: _Optional[float] = ..., p25_output_speed: _Optional[float] = ...) -> None: ...

class GateRule(_message.Message):
    __slots__ = ("tier", "min_agents", "min_agents_per_gpu", "min_agents_per_mw")
    TIER_FIELD_NUMBER: _ClassVar[int]
    MIN_AGENTS_FIELD_NUMBER: _ClassVar[int]
    MIN_AGENTS_PER_GPU_FIELD_NUMBER: _ClassVar[int]
    MIN_AGENTS_PER_MW_FIELD_NUMBER: _ClassVar[int]
    tier: str
    min_agents: int
    min_agents_per_gpu: float
    min_agents_per_mw: float
    def __init__(self, tier: _Optional[str] = ..., min_agents: _Optional[int] = ..., min_agents_per_gpu: _Optional[float] = ..., min_agents_per_mw: _Optional[float] = ...) -> None: ...

class RunState(_message.Message):
    __slots__ = ("run_id", "phase", "tiers", "gate", "gpus", "gpu_seconds", "started_unix_s", "updated_unix_s", "message", "levels_measured", "current_level", "report_path", "target", "dataset")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEVELS_MEASURED_FIELD_NUMBER: _ClassVar[int]
    CURRENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REPORT_PATH_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    phase: RunPhase
    tiers: _containers.RepeatedCompositeFieldContainer[TierAnswer]
    gate: _containers.RepeatedCompositeFieldContainer[GateRule]
    gpus: int
    gpu_seconds: float
    started_unix_s: float
    updated_unix_s: float
    message: str
    levels_measured: int
    current_level: int
    report_path: str
    target: str
    dataset: str
    def __init__(self, run_id: _Optional[str] = ..., phase: _Optional[_Union[RunPhase, str]] = ..., tiers: _Optional[_Iterable[_Union[TierAnswer, _Mapping]]] = ..., gate: _Optional[_Iterable[_Union[GateRule, _Mapping]]] = ..., gpus: _Optional[int] = ..., gpu_seconds: _Optional[float] = ..., started_unix_s: _Optional[float] = ..., updated_unix_s: _Optional[float] = ..., message: _Optional[str] = ..., levels_measured: _Optional[int] = ..., current_level: _Optional[int] = ..., report_path: _Optional[str] = ..., target: _Optional[str] = ..., dataset: _Optional[str] = ...) -> None: ...

class PutRunResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...
