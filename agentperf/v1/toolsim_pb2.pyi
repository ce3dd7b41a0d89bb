from agentperf.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
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
    __slots__ = ("delay_s", "model", "modelled_delay_s", "time_scale", "queued_s", "tool_class", "capped", "cpu_task", "cpu_work_units", "cpu_target_s", "cpu_measured_s")
    DELAY_S_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODELLED_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    TIME_SCALE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_S_FIELD_NUMBER: _ClassVar[int]
    TOOL_CLASS_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    CPU_TASK_FIELD_NUMBER: _ClassVar[int]
    CPU_WORK_UNITS_FIELD_NUMBER: _ClassVar[int]
    CPU_TARGET_S_FIELD_NUMBER: _ClassVar[int]
    CPU_MEASURED_S_FIELD_NUMBER: _ClassVar[int]
    delay_s: float
    model: str
    modelled_delay_s: float
    time_scale: float
    queued_s: float
    tool_class: str
    capped: bool
    cpu_task: str
    cpu_work_units: int
    cpu_target_s: float
    cpu_measured_s: float
    def __init__(self, delay_s: _Optional[float] = ..., model: _Optional[str] = ..., modelled_delay_s: _Optional[float] = ..., time_scale: _Optional[float] = ..., queued_s: _Optional[float] = ..., tool_class: _Optional[str] = ..., capped: _Optional[bool] = ..., cpu_task: _Optional[str] = ..., cpu_work_units: _Optional[int] = ..., cpu_target_s: _Optional[float] = ..., cpu_measured_s: _Optional[float] = ...) -> None: ...

class FitRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class DescribeModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ToolClassModel(_message.Message):
    __slots__ = ("tool_class", "model", "distribution", "fit_source", "samples", "class_samples", "p50_s", "p90_s", "lognormal_mu", "lognormal_sigma", "dataset", "cpu_task")
    TOOL_CLASS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    FIT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CLASS_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    P50_S_FIELD_NUMBER: _ClassVar[int]
    P90_S_FIELD_NUMBER: _ClassVar[int]
    LOGNORMAL_MU_FIELD_NUMBER: _ClassVar[int]
    LOGNORMAL_SIGMA_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CPU_TASK_FIELD_NUMBER: _ClassVar[int]
    tool_class: str
    model: str
    distribution: str
    fit_source: str
    samples: int
    class_samples: int
    p50_s: float
    p90_s: float
    lognormal_mu: float
    lognormal_sigma: float
    dataset: str
    cpu_task: str
    def __init__(self, tool_class: _Optional[str] = ..., model: _Optional[str] = ..., distribution: _Optional[str] = ..., fit_source: _Optional[str] = ..., samples: _Optional[int] = ..., class_samples: _Optional[int] = ..., p50_s: _Optional[float] = ..., p90_s: _Optional[float] = ..., lognormal_mu: _Optional[float] = ..., lognormal_sigma: _Optional[float] = ..., dataset: _Optional[str] = ..., cpu_task: _Optional[str] = ...) -> None: ...

class ToolModelReport(_message.Message):
    __slots__ = ("classes", "dataset", "recorded_durations", "tool_calls", "trajectories", "min_fit_samples", "max_delay_s", "time_scale", "max_concurrent", "calibration_cpu", "host_cpu", "seed", "summary", "cpu_pool")
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    RECORDED_DURATIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORIES_FIELD_NUMBER: _ClassVar[int]
    MIN_FIT_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    TIME_SCALE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_CPU_FIELD_NUMBER: _ClassVar[int]
    HOST_CPU_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CPU_POOL_FIELD_NUMBER: _ClassVar[int]
    classes: _containers.RepeatedCompositeFieldContainer[ToolClassModel]
    dataset: str
    recorded_durations: int
    tool_calls: int
    trajectories: int
    min_fit_samples: int
    max_delay_s: float
    time_scale: float
    max_concurrent: int
    calibration_cpu: str
    host_cpu: str
    seed: int
    summary: str
    cpu_pool: int
    def __init__(self, classes: _Optional[_Iterable[_Union[ToolClassModel, _Mapping]]] = ..., dataset: _Optional[str] = ..., recorded_durations: _Optional[int] = ..., tool_calls: _Optional[int] = ..., trajectories: _Optional[int] = ..., min_fit_samples: _Optional[int] = ..., max_delay_s: _Optional[float] = ..., time_scale: _Optional[float] = ..., max_concurrent: _Optional[int] = ..., calibration_cpu: _Optional[str] = ..., host_cpu: _Optional[str] = ..., seed: _Optional[int] = ..., summary: _Optional[str] = ..., cpu_pool: _Optional[int] = ...) -> None: ...
