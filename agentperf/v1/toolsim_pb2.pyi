from agentperf.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunToolRequest(_message.Message):
    __slots__ = ("tool", "key")
    TOOL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    tool: _common_pb2.ToolCall
    key: str
    def __init__(self, tool: _Optional[_Union[_common_pb2.ToolCall, _Mapping]] = ..., key: _Optional[str] = ...) -> None: ...

class RunToolResponse(_message.Message):
    __slots__ = ("delay_s", "model", "modelled_delay_s", "time_scale", "queued_s", "tool_class", "capped")
    DELAY_S_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODELLED_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    TIME_SCALE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_S_FIELD_NUMBER: _ClassVar[int]
    TOOL_CLASS_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    delay_s: float
    model: str
    modelled_delay_s: float
    time_scale: float
    queued_s: float
    tool_class: str
    capped: bool
    def __init__(self, delay_s: _Optional[float] = ..., model: _Optional[str] = ..., modelled_delay_s: _Optional[float] = ..., time_scale: _Optional[float] = ..., queued_s: _Optional[float] = ..., tool_class: _Optional[str] = ..., capped: _Optional[bool] = ...) -> None: ...
