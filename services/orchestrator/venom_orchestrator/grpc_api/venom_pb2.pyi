from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TimeWrapRequest(_message.Message):
    __slots__ = ("k", "p", "u", "t1")
    K_FIELD_NUMBER: _ClassVar[int]
    P_FIELD_NUMBER: _ClassVar[int]
    U_FIELD_NUMBER: _ClassVar[int]
    T1_FIELD_NUMBER: _ClassVar[int]
    k: float
    p: float
    u: float
    t1: float
    def __init__(self, k: _Optional[float] = ..., p: _Optional[float] = ..., u: _Optional[float] = ..., t1: _Optional[float] = ...) -> None: ...

class TimeWrapReply(_message.Message):
    __slots__ = ("t_lambda_s",)
    T_LAMBDA_S_FIELD_NUMBER: _ClassVar[int]
    t_lambda_s: float
    def __init__(self, t_lambda_s: _Optional[float] = ...) -> None: ...

class FractalTotalRequest(_message.Message):
    __slots__ = ("s", "theta")
    S_FIELD_NUMBER: _ClassVar[int]
    THETA_FIELD_NUMBER: _ClassVar[int]
    s: float
    theta: float
    def __init__(self, s: _Optional[float] = ..., theta: _Optional[float] = ...) -> None: ...

class FractalTotalReply(_message.Message):
    __slots__ = ("state", "flow")
    STATE_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    state: str
    flow: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, state: _Optional[str] = ..., flow: _Optional[_Iterable[str]] = ...) -> None: ...

class MobiusTimeRequest(_message.Message):
    __slots__ = ("s", "k", "p", "u", "theta", "t1")
    S_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    P_FIELD_NUMBER: _ClassVar[int]
    U_FIELD_NUMBER: _ClassVar[int]
    THETA_FIELD_NUMBER: _ClassVar[int]
    T1_FIELD_NUMBER: _ClassVar[int]
    s: float
    k: float
    p: float
    u: float
    theta: float
    t1: float
    def __init__(self, s: _Optional[float] = ..., k: _Optional[float] = ..., p: _Optional[float] = ..., u: _Optional[float] = ..., theta: _Optional[float] = ..., t1: _Optional[float] = ...) -> None: ...

class MobiusTimeReply(_message.Message):
    __slots__ = ("time",)
    TIME_FIELD_NUMBER: _ClassVar[int]
    time: float
    def __init__(self, time: _Optional[float] = ...) -> None: ...

class GravModeRequest(_message.Message):
    __slots__ = ("s", "theta", "k", "p", "u", "t1")
    S_FIELD_NUMBER: _ClassVar[int]
    THETA_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    P_FIELD_NUMBER: _ClassVar[int]
    U_FIELD_NUMBER: _ClassVar[int]
    T1_FIELD_NUMBER: _ClassVar[int]
    s: float
    theta: float
    k: float
    p: float
    u: float
    t1: float
    def __init__(self, s: _Optional[float] = ..., theta: _Optional[float] = ..., k: _Optional[float] = ..., p: _Optional[float] = ..., u: _Optional[float] = ..., t1: _Optional[float] = ...) -> None: ...

class GravModeReply(_message.Message):
    __slots__ = ("mode", "value")
    MODE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    mode: str
    value: float
    def __init__(self, mode: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
