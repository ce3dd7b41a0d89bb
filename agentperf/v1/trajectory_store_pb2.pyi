from agentperf.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImportChunk(_message.Message):
    __slots__ = ("dataset", "format", "replace", "data", "source_name")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    format: str
    replace: bool
    data: bytes
    source_name: str
    def __init__(self, dataset: _Optional[str] = ..., format: _Optional[str] = ..., replace: _Optional[bool] = ..., data: _Optional[bytes] = ..., source_name: _Optional[str] = ...) -> None: ...

class SyntheticSpec(_message.Message):
    __slots__ = ("count", "seed", "max_turns", "min_turns", "input_tokens_median", "input_tokens_sigma", "output_tokens_median", "output_tokens_sigma", "preamble_tokens", "tool_median_s", "tool_sigma", "max_output_tokens", "max_input_tokens", "max_context_tokens", "max_tool_s", "turns_distribution", "turns_median", "turns_sigma")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    MIN_TURNS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_MEDIAN_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_SIGMA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_MEDIAN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_SIGMA_FIELD_NUMBER: _ClassVar[int]
    PREAMBLE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOOL_MEDIAN_S_FIELD_NUMBER: _ClassVar[int]
    TOOL_SIGMA_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOOL_S_FIELD_NUMBER: _ClassVar[int]
    TURNS_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    TURNS_MEDIAN_FIELD_NUMBER: _ClassVar[int]
    TURNS_SIGMA_FIELD_NUMBER: _ClassVar[int]
    count: int
    seed: int
    max_turns: int
    min_turns: int
    input_tokens_median: float
    input_tokens_sigma: float
    output_tokens_median: float
    output_tokens_sigma: float
    preamble_tokens: int
    tool_median_s: float
    tool_sigma: float
    max_output_tokens: int
    max_input_tokens: int
    max_context_tokens: int
    max_tool_s: float
    turns_distribution: str
    turns_median: float
    turns_sigma: float
    def __init__(self, count: _Optional[int] = ..., seed: _Optional[int] = ..., max_turns: _Optional[int] = ..., min_turns: _Optional[int] = ..., input_tokens_median: _Optional[float] = ..., input_tokens_sigma: _Optional[float] = ..., output_tokens_median: _Optional[float] = ..., output_tokens_sigma: _Optional[float] = ..., preamble_tokens: _Optional[int] = ..., tool_median_s: _Optional[float] = ..., tool_sigma: _Optional[float] = ..., max_output_tokens: _Optional[int] = ..., max_input_tokens: _Optional[int] = ..., max_context_tokens: _Optional[int] = ..., max_tool_s: _Optional[float] = ..., turns_distribution: _Optional[str] = ..., turns_median: _Optional[float] = ..., turns_sigma: _Optional[float] = ...) -> None: ...

class GenerateSyntheticRequest(_message.Message):
    __slots__ = ("dataset", "spec", "replace", "preset")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    spec: SyntheticSpec
    replace: bool
    preset: str
    def __init__(self, dataset: _Optional[str] = ..., spec: _Optional[_Union[SyntheticSpec, _Mapping]] = ..., replace: _Optional[bool] = ..., preset: _Optional[str] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("name", "format", "trajectories", "turns", "input_tokens", "output_tokens", "created_unix_s", "source", "token_method")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORIES_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_METHOD_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    trajectories: int
    turns: int
    input_tokens: int
    output_tokens: int
    created_unix_s: float
    source: str
    token_method: str
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., trajectories: _Optional[int] = ..., turns: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., created_unix_s: _Optional[float] = ..., source: _Optional[str] = ..., token_method: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetInfo]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetInfo, _Mapping]]] = ...) -> None: ...

class StreamTrajectoriesRequest(_message.Message):
    __slots__ = ("dataset", "shard_index", "shard_count", "limit")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    shard_index: int
    shard_count: int
    limit: int
    def __init__(self, dataset: _Optional[str] = ..., shard_index: _Optional[int] = ..., shard_count: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetDatasetStatsRequest(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    def __init__(self, dataset: _Optional[str] = ...) -> None: ...

class Distribution(_message.Message):
    __slots__ = ("count", "min", "mean", "p50", "p90", "p95", "p99", "max")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P90_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    P99_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    def __init__(self, count: _Optional[int] = ..., min: _Optional[float] = ..., mean: _Optional[float] = ..., p50: _Optional[float] = ..., p90: _Optional[float] = ..., p95: _Optional[float] = ..., p99: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class ToolClassStats(_message.Message):
    __slots__ = ("tool_class", "calls", "calls_with_duration", "duration_s")
    TOOL_CLASS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CALLS_WITH_DURATION_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    tool_class: str
    calls: int
    calls_with_duration: int
    duration_s: Distribution
    def __init__(self, tool_class: _Optional[str] = ..., calls: _Optional[int] = ..., calls_with_duration: _Optional[int] = ..., duration_s: _Optional[_Union[Distribution, _Mapping]] = ...) -> None: ...

class DatasetStats(_message.Message):
    __slots__ = ("info", "turns_per_trajectory", "phases_per_trajectory", "input_tokens_per_turn", "output_tokens_per_turn", "cached_tokens_per_turn", "request_tokens", "context_growth_tokens", "tool_delay_s", "tools", "tool_calls")
    INFO_FIELD_NUMBER: _ClassVar[int]
    TURNS_PER_TRAJECTORY_FIELD_NUMBER: _ClassVar[int]
    PHASES_PER_TRAJECTORY_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_PER_TURN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_PER_TURN_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_PER_TURN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_GROWTH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOOL_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    info: DatasetInfo
    turns_per_trajectory: Distribution
    phases_per_trajectory: Distribution
    input_tokens_per_turn: Distribution
    output_tokens_per_turn: Distribution
    cached_tokens_per_turn: Distribution
    request_tokens: Distribution
    context_growth_tokens: Distribution
    tool_delay_s: Distribution
    tools: _containers.RepeatedCompositeFieldContainer[ToolClassStats]
    tool_calls: int
    def __init__(self, info: _Optional[_Union[DatasetInfo, _Mapping]] = ..., turns_per_trajectory: _Optional[_Union[Distribution, _Mapping]] = ..., phases_per_trajectory: _Optional[_Union[Distribution, _Mapping]] = ..., input_tokens_per_turn: _Optional[_Union[Distribution, _Mapping]] = ..., output_tokens_per_turn: _Optional[_Union[Distribution, _Mapping]] = ..., cached_tokens_per_turn: _Optional[_Union[Distribution, _Mapping]] = ..., request_tokens: _Optional[_Union[Distribution, _Mapping]] = ..., context_growth_tokens: _Optional[_Union[Distribution, _Mapping]] = ..., tool_delay_s: _Optional[_Union[Distribution, _Mapping]] = ..., tools: _Optional[_Iterable[_Union[ToolClassStats, _Mapping]]] = ..., tool_calls: _Optional[int] = ...) -> None: ...
