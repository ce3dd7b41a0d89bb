from agentperf.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class BeginWindowRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    def __init__(self, window_id: _Optional[str] = ...) -> None: ...

class BeginWindowResponse(_message.Message):
    __slots__ = ("gpus",)
    GPUS_FIELD_NUMBER: _ClassVar[int]
    gpus: int
    def __init__(self, gpus: _Optional[int] = ...) -> None: ...

class EndWindowRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    def __init__(self, window_id: _Optional[str] = ...) -> None: ...
