from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LevelEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_EVENT_KIND_UNSPECIFIED: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_STARTED: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_WINDOW_OPEN: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_PROGRESS: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_WINDOW_CLOSED: _ClassVar[LevelEventKind]
    LEVEL_EVENT_KIND_DONE: _ClassVar[LevelEventKind]
LEVEL_EVENT_KIND_UNSPECIFIED: LevelEventKind
LEVEL_EVENT_KIND_STARTED: LevelEventKind
LEVEL_EVENT_KIND_WINDOW_OPEN: LevelEventKind
LEVEL_EVENT_KIND_PROGRESS: LevelEventKind
LEVEL_EVENT_KIND_WINDOW_CLOSED: LevelEventKind
LEVEL_EVENT_KIND_DONE: LevelEventKind

class RunLevelRequest(_message.Message):
    __slots__ = ("run_id", "level", "dataset", "window_s", "warmup_timeout_s", "seed", "shard_index", "shard_count", "min_window_requests", "max_window_s")
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
    def __init__(self, run_id: _Optional[str] = ..., level: _Optional[int] = ..., dataset: _Optional[str] = ..., window_s: _Optional[float] = ..., warmup_timeout_s: _Optional[float] = ..., seed: _Optional[int] = ..., shard_index: _Optional[int] = ..., shard_count: _Optional[int] = ..., min_window_requests: _Optional[int] = ..., max_window_s: _Optional[float] = ...) -> None: ...

class LevelEvent(_message.Message):
    __slots__ = ("kind", "elapsed_s", "agents_in_flight", "requests_sent", "requests_done", "records_delivered", "failed", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    AGENTS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_SENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_DONE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: LevelEventKind
    elapsed_s: float
    agents_in_flight: int
    requests_sent: int
    requests_done: int
    records_delivered: int
    failed: int
    message: str
    def __init__(self, kind: _Optional[_Union[LevelEventKind, str]] = ..., elapsed_s: _Optional[float] = ..., agents_in_flight: _Optional[int] = ..., requests_sent: _Optional[int] = ..., requests_done: _Optional[int] = ..., records_delivered: _Optional[int] = ..., failed: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class LoadStats(_message.Message):
    __slots__ = ("requests_sent", "records_delivered")
    REQUESTS_SENT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    requests_sent: int
    records_delivered: int
    def __init__(self, requests_sent: _Optional[int] = ..., records_delivered: _Optional[int] = ...) -> None: ...
