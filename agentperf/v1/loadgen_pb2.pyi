from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentStart(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_START_UNSPECIFIED: _ClassVar[AgentStart]
    AGENT_START_BEGINNING: _ClassVar[AgentStart]
    AGENT_START_RANDOM_TURN: _ClassVar[AgentStart]

class LevelEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_EVENT_KIND_UNSPECIFIED: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_STARTED: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_WINDOW_OPEN: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_PROGRESS: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_WINDOW_CLOSED: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_DONE: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_WINDOW_HOLD: _ClassVar[LevelEventKind]
AGENT_START_UNSPECIFIED: AgentStart
AGENT_START_BEGINNING: AgentStart
AGENT_START_RANDOM_TURN: AgentStart
LEVEL_EVENT_KIND_UNSPECIFIED: LevelEventKind
LEVEL_EVENT_KIND_STARTED: LevelEventKind
LEVEL_EVENT_KIND_WINDOW_OPEN: LevelEventKind
LEVEL_EVENT_KIND_PROGRESS: LevelEventKind
LEVEL_EVENT_KIND_WINDOW_CLOSED: LevelEventKind
LEVEL_EVENT_KIND_DONE: LevelEventKind
LEVEL_EVENT_KIND_WINDOW_HOLD: LevelEventKind

class StopLevelRequest(_message.Message):
    __slots__ = ("run_id", "level", "reason")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    level: int
    reason: str
    def __init__(self, run_id: _Optional[str] = ..., level: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class StopLevelResponse(_message.Message):
    __slots__ = ("stopped",)
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    stopped: bool
    def __init__(self, stopped: _Optional[bool] = ...) -> None: ...

class RunLevelRequest(_message.Message):
    __slots__ = ("run_id", "level", "dataset", "window_s", "warmup_timeout_s", "seed", "shard_index", "shard_count", "min_window_requests", "max_window_s", "hold_s", "agent_start")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    WARMUP_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_WINDOW_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    HOLD_S_FIELD_NUMBER: _ClassVar[int]
    AGENT_START_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    level: int
    dataset: str
    window_s: float
    warmup_timeout_s: float
    seed: int
    shard_index: int
    shard_count: int
    min_window_requests: int
    max_window_s: float
    hold_s: float
    agent_start: AgentStart
    def __init__(self, run_id: _Optional[str] = ..., level: _Optional[int] = ..., dataset: _Optional[str] = ..., window_s: _Optional[float] = ..., warmup_timeout_s: _Optional[float] = ..., seed: _Optional[int] = ..., shard_index: _Optional[int] = ..., shard_count: _Optional[int] = ..., min_window_requests: _Optional[int] = ..., max_window_s: _Optional[float] = ..., hold_s: _Optional[float] = ..., agent_start: _Optional[_Union[AgentStart, str]] = ...) -> None: ...

class LevelEvent(_message.Message):
    __slots__ = ("kind", "elapsed_s", "agents_in_flight", "requests_sent", "requests_done", "records_delivered", "failed", "message", "censored", "records_written", "window_requests", "loop_lag_max_s", "agents", "failures_by_class", "window_s", "tool_errors", "valid", "invalid_reason", "loop_lag_p99_s", "loop_lag_window_max_s", "cpu_fraction", "agents_active_mean", "agents_active_min", "workers", "sink_waits", "rss_peak_bytes", "cpu_s", "prompt_token_samples", "prompt_token_error_mean", "prompt_token_error_max", "prompt_words_per_token")
    class FailuresByClassEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    AGENTS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_SENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_DONE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CENSORED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    WINDOW_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LOOP_LAG_MAX_S_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_BY_CLASS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    TOOL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    INVALID_REASON_FIELD_NUMBER: _ClassVar[int]
    LOOP_LAG_P99_S_FIELD_NUMBER: _ClassVar[int]
    LOOP_LAG_WINDOW_MAX_S_FIELD_NUMBER: _ClassVar[int]
    CPU_FRACTION_FIELD_NUMBER: _ClassVar[int]
    AGENTS_ACTIVE_MEAN_FIELD_NUMBER: _ClassVar[int]
    AGENTS_ACTIVE_MIN_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    SINK_WAITS_FIELD_NUMBER: _ClassVar[int]
    RSS_PEAK_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_S_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_ERROR_MEAN_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_ERROR_MAX_FIELD_NUMBER: _ClassVar[int]
    PROMPT_WORDS_PER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: LevelEventKind
    elapsed_s: float
    agents_in_flight: int
    requests_sent: int
    requests_done: int
    records_delivered: int
    failed: int
    message: str
    censored: int
    records_written: int
    window_requests: int
    loop_lag_max_s: float
    agents: int
    failures_by_class: _containers.ScalarMap[str, int]
    window_s: float
    tool_errors: int
    valid: bool
    invalid_reason: str
    loop_lag_p99_s: float
    loop_lag_window_max_s: float
    cpu_fraction: float
    agents_active_mean: float
    agents_active_min: int
    workers: int
    sink_waits: int
    rss_peak_bytes: int
    cpu_s: float
    prompt_token_samples: int
    prompt_token_error_mean: float
    prompt_token_error_max: float
    prompt_words_per_token: float
    def __init__(self, kind: _Optional[_Union[LevelEventKind, str]] = ..., elapsed_s: _Optional[float] = ..., agents_in_flight: _Optional[int] = ..., requests_sent: _Optional[int] = ..., requests_done: _Optional[int] = ..., records_delivered: _Optional[int] = ..., failed: _Optional[int] = ..., message: _Optional[str] = ..., censored: _Optional[int] = ..., records_written: _Optional[int] = ..., window_requests: _Optional[int] = ..., loop_lag_max_s: _Optional[float] = ..., agents: _Optional[int] = ..., failures_by_class: _Optional[_Mapping[str, int]] = ..., window_s: _Optional[float] = ..., tool_errors: _Optional[int] = ..., valid: _Optional[bool] = ..., invalid_reason: _Optional[str] = ..., loop_lag_p99_s: _Optional[float] = ..., loop_lag_window_max_s: _Optional[float] = ..., cpu_fraction: _Optional[float] = ..., agents_active_mean: _Optional[float] = ..., agents_active_min: _Optional[int] = ..., workers: _Optional[int] = ..., sink_waits: _Optional[int] = ..., rss_peak_bytes: _Optional[int] = ..., cpu_s: _Optional[float] = ..., prompt_token_samples: _Optional[int] = ..., prompt_token_error_mean: _Optional[float] = ..., prompt_token_error_max: _Optional[float] = ..., prompt_words_per_token: _Optional[float] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class LoadStats(_message.Message):
    __slots__ = ("requests_sent", "records_delivered", "failed", "censored", "levels")
    REQUESTS_SENT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CENSORED_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    requests_sent: int
    records_delivered: int
    failed: int
    censored: int
    levels: int
    def __init__(self, requests_sent: _Optional[int] = ..., records_delivered: _Optional[int] = ..., failed: _Optional[int] = ..., censored: _Optional[int] = ..., levels: _Optional[int] = ...) -> None: ...
