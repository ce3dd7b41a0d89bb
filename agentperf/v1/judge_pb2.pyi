from agentperf.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestSummary(_message.Message):
    __slots__ = ("accepted", "duplicates")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("run_id", "level", "tiers", "expect_records", "wait_timeout_s", "window_s")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    WAIT_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    level: int
    tiers: _containers.RepeatedCompositeFieldContainer[_common_pb2.SloTier]
    expect_records: int
    wait_timeout_s: float
    window_s: float
    def __init__(self, run_id: _Optional[str] = ..., level: _Optional[int] = ..., tiers: _Optional[_Iterable[_Union[_common_pb2.SloTier, _Mapping]]] = ..., expect_records: _Optional[int] = ..., wait_timeout_s: _Optional[float] = ..., window_s: _Optional[float] = ...) -> None: ...

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
