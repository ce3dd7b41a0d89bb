from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REQUEST_STATUS_UNSPECIFIED: _ClassVar[RequestStatus]
    REQUEST_STATUS_OK: _ClassVar[RequestStatus]
    REQUEST_STATUS_FAILED: _ClassVar[RequestStatus]
    REQUEST_STATUS_CENSORED: _ClassVar[RequestStatus]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_PASS: _ClassVar[Verdict]
    VERDICT_FAIL: _ClassVar[Verdict]
    VERDICT_INSUFFICIENT: _ClassVar[Verdict]
    VERDICT_INCONCLUSIVE: _ClassVar[Verdict]
REQUEST_STATUS_UNSPECIFIED: RequestStatus
REQUEST_STATUS_OK: RequestStatus
REQUEST_STATUS_FAILED: RequestStatus
REQUEST_STATUS_CENSORED: RequestStatus
VERDICT_UNSPECIFIED: Verdict
VERDICT_PASS: Verdict
VERDICT_FAIL: Verdict
VERDICT_INSUFFICIENT: Verdict
VERDICT_INCONCLUSIVE: Verdict

class ToolCall(_message.Message):
    __slots__ = ("name", "tool_class", "recorded_duration_s")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_CLASS_FIELD_NUMBER: _ClassVar[int]
    RECORDED_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    name: str
    tool_class: str
    recorded_duration_s: float
    def __init__(self, name: _Optional[str] = ..., tool_class: _Optional[str] = ..., recorded_duration_s: _Optional[float] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "cached_tokens", "tool", "has_tool", "input_text", "output_text")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    HAS_TOOL_FIELD_NUMBER: _ClassVar[int]
    INPUT_TEXT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TEXT_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    tool: ToolCall
    has_tool: bool
    input_text: str
    output_text: str
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., tool: _Optional[_Union[ToolCall, _Mapping]] = ..., has_tool: _Optional[bool] = ..., input_text: _Optional[str] = ..., output_text: _Optional[str] = ...) -> None: ...

class Phase(_message.Message):
    __slots__ = ("preamble_tokens", "turns", "preamble_text")
    PREAMBLE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    PREAMBLE_TEXT_FIELD_NUMBER: _ClassVar[int]
    preamble_tokens: int
    turns: _containers.RepeatedCompositeFieldContainer[Turn]
    preamble_text: str
    def __init__(self, preamble_tokens: _Optional[int] = ..., turns: _Optional[_Iterable[_Union[Turn, _Mapping]]] = ..., preamble_text: _Optional[str] = ...) -> None: ...

class Trajectory(_message.Message):
    __slots__ = ("id", "dataset", "phases", "index", "meta")
    class MetaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    id: str
    dataset: str
    phases: _containers.RepeatedCompositeFieldContainer[Phase]
    index: int
    meta: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., dataset: _Optional[str] = ..., phases: _Optional[_Iterable[_Union[Phase, _Mapping]]] = ..., index: _Optional[int] = ..., meta: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RequestRecord(_message.Message):
    __slots__ = ("record_id", "run_id", "level", "agent", "trajectory_id", "phase", "turn", "status", "failure_class", "in_window", "send_unix_s", "has_first_token", "ttft_s", "ttfa_s", "first_to_last_s", "output_tokens", "first_chunk_tokens", "prompt_tokens", "cached_tokens", "waited_s", "http_status", "chunks", "max_chunk_gap_s", "shard")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CLASS_FIELD_NUMBER: _ClassVar[int]
    IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SEND_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    HAS_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    TTFA_S_FIELD_NUMBER: _ClassVar[int]
    FIRST_TO_LAST_S_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHUNK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_GAP_S_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    run_id: str
    level: int
    agent: int
    trajectory_id: str
    phase: int
    turn: int
    status: RequestStatus
    failure_class: str
    in_window: bool
    send_unix_s: float
    has_first_token: bool
    ttft_s: float
    ttfa_s: float
    first_to_last_s: float
    output_tokens: int
    first_chunk_tokens: int
    prompt_tokens: int
    cached_tokens: int
    waited_s: float
    http_status: int
    chunks: int
    max_chunk_gap_s: float
    shard: int
    def __init__(self, record_id: _Optional[str] = ..., run_id: _Optional[str] = ..., level: _Optional[int] = ..., agent: _Optional[int] = ..., trajectory_id: _Optional[str] = ..., phase: _Optional[int] = ..., turn: _Optional[int] = ..., status: _Optional[_Union[RequestStatus, str]] = ..., failure_class: _Optional[str] = ..., in_window: _Optional[bool] = ..., send_unix_s: _Optional[float] = ..., has_first_token: _Optional[bool] = ..., ttft_s: _Optional[float] = ..., ttfa_s: _Optional[float] = ..., first_to_last_s: _Optional[float] = ..., output_tokens: _Optional[int] = ..., first_chunk_tokens: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., waited_s: _Optional[float] = ..., http_status: _Optional[int] = ..., chunks: _Optional[int] = ..., max_chunk_gap_s: _Optional[float] = ..., shard: _Optional[int] = ...) -> None: ...

class SloTier(_message.Message):
    __slots__ = ("name", "min_output_speed", "max_ttft_s")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_OUTPUT_SPEED_FIELD_NUMBER: _ClassVar[int]
    MAX_TTFT_S_FIELD_NUMBER: _ClassVar[int]
    name: str
    min_output_speed: float
    max_ttft_s: float
    def __init__(self, name: _Optional[str] = ..., min_output_speed: _Optional[float] = ..., max_ttft_s: _Optional[float] = ...) -> None: ...

class TierVerdict(_message.Message):
    __slots__ = ("tier", "verdict", "p95_ttft_s", "p25_output_speed", "ttft_samples", "speed_samples", "reason", "p95_ttft_low_s", "p95_ttft_high_s", "p25_speed_low", "p25_speed_high", "confidence")
    TIER_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    P95_TTFT_S_FIELD_NUMBER: _ClassVar[int]
    P25_OUTPUT_SPEED_FIELD_NUMBER: _ClassVar[int]
    TTFT_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SPEED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    P95_TTFT_LOW_S_FIELD_NUMBER: _ClassVar[int]
    P95_TTFT_HIGH_S_FIELD_NUMBER: _ClassVar[int]
    P25_SPEED_LOW_FIELD_NUMBER: _ClassVar[int]
    P25_SPEED_HIGH_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    tier: SloTier
    verdict: Verdict
    p95_ttft_s: float
    p25_output_speed: float
    ttft_samples: int
    speed_samples: int
    reason: str
    p95_ttft_low_s: float
    p95_ttft_high_s: float
    p25_speed_low: float
    p25_speed_high: float
    confidence: float
    def __init__(self, tier: _Optional[_Union[SloTier, _Mapping]] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., p95_ttft_s: _Optional[float] = ..., p25_output_speed: _Optional[float] = ..., ttft_samples: _Optional[int] = ..., speed_samples: _Optional[int] = ..., reason: _Optional[str] = ..., p95_ttft_low_s: _Optional[float] = ..., p95_ttft_high_s: _Optional[float] = ..., p25_speed_low: _Optional[float] = ..., p25_speed_high: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class LevelVerdict(_message.Message):
    __slots__ = ("run_id", "level", "tiers", "records_total", "records_window", "failed", "censored", "output_tokens_per_s", "complete", "expected_records", "shards", "preview", "run_ids")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RECORDS_WINDOW_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CENSORED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    level: int
    tiers: _containers.RepeatedCompositeFieldContainer[TierVerdict]
    records_total: int
    records_window: int
    failed: int
    censored: int
    output_tokens_per_s: float
    complete: bool
    expected_records: int
    shards: int
    preview: bool
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., level: _Optional[int] = ..., tiers: _Optional[_Iterable[_Union[TierVerdict, _Mapping]]] = ..., records_total: _Optional[int] = ..., records_window: _Optional[int] = ..., failed: _Optional[int] = ..., censored: _Optional[int] = ..., output_tokens_per_s: _Optional[float] = ..., complete: _Optional[bool] = ..., expected_records: _Optional[int] = ..., shards: _Optional[int] = ..., preview: _Optional[bool] = ..., run_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GpuPower(_message.Message):
    __slots__ = ("gpu", "uuid", "hostname", "model_name", "mean_power_w", "energy_j", "method")
    GPU_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MEAN_POWER_W_FIELD_NUMBER: _ClassVar[int]
    ENERGY_J_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    gpu: str
    uuid: str
    hostname: str
    model_name: str
    mean_power_w: float
    energy_j: float
    method: str
    def __init__(self, gpu: _Optional[str] = ..., uuid: _Optional[str] = ..., hostname: _Optional[str] = ..., model_name: _Optional[str] = ..., mean_power_w: _Optional[float] = ..., energy_j: _Optional[float] = ..., method: _Optional[str] = ...) -> None: ...

class PowerWindow(_message.Message):
    __slots__ = ("window_id", "duration_s", "gpus", "total_mean_power_w", "simulated", "source")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MEAN_POWER_W_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    duration_s: float
    gpus: _containers.RepeatedCompositeFieldContainer[GpuPower]
    total_mean_power_w: float
    simulated: bool
    source: str
    def __init__(self, window_id: _Optional[str] = ..., duration_s: _Optional[float] = ..., gpus: _Optional[_Iterable[_Union[GpuPower, _Mapping]]] = ..., total_mean_power_w: _Optional[float] = ..., simulated: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...
