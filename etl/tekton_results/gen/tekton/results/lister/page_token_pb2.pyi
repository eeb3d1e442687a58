import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PageToken(_message.Message):
    __slots__ = ("parent", "filter", "last_item")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LAST_ITEM_FIELD_NUMBER: _ClassVar[int]
    parent: str
    filter: str
    last_item: Item
    def __init__(self, parent: _Optional[str] = ..., filter: _Optional[str] = ..., last_item: _Optional[_Union[Item, _Mapping]] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("uid", "order_by")
    UID_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    uid: str
    order_by: Order
    def __init__(self, uid: _Optional[str] = ..., order_by: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("field_name", "value", "direction")
    class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ASC: _ClassVar[Order.Direction]
        DESC: _ClassVar[Order.Direction]
    ASC: Order.Direction
    DESC: Order.Direction
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    field_name: str
    value: _timestamp_pb2.Timestamp
    direction: Order.Direction
    def __init__(self, field_name: _Optional[str] = ..., value: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., direction: _Optional[_Union[Order.Direction, str]] = ...) -> None: ...
