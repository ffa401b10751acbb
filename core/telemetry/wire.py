"""MQTT 3.1.1 and 5.0 packet encoding, only what the local broker needs.

Reference: OASIS MQTT 3.1.1 and 5.0. Every decoder raises ``ProtocolError`` on a malformed
packet so the broker can close that one connection and carry on.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# MQTT 5 reason codes used here.
RC_SUCCESS = 0x00
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_UNSUPPORTED_VERSION = 0x84
RC_CLIENT_ID_INVALID = 0x85
RC_NOT_AUTHORIZED = 0x87
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_PACKET_TOO_LARGE = 0x95
RC_QUOTA_EXCEEDED = 0x97
RC_QOS_NOT_SUPPORTED = 0x9B

# MQTT 5 property ids by value type.
_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_U16 = {0x13, 0x21, 0x22, 0x23}
_U32 = {0x02, 0x11, 0x18, 0x27}
_VARINT = {0x0B}
_STRING = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BINARY = {0x09, 0x16}
USER_PROPERTY = 0x26
P_TOPIC_ALIAS = 0x23
P_RECEIVE_MAXIMUM = 0x21
P_MAXIMUM_QOS = 0x24
P_RETAIN_AVAILABLE = 0x25
P_MAX_PACKET_SIZE = 0x27
P_WILDCARD_AVAILABLE = 0x28
P_SUB_ID_AVAILABLE = 0x29
P_SHARED_AVAILABLE = 0x2A
P_REASON_STRING = 0x1F


class ProtocolError(Exception):
    """A malformed or forbidden packet; ``reason`` is the MQTT 5 reason code to report."""

    def __init__(self, message: str, reason: int = RC_MALFORMED):
        super().__init__(message)
        self.reason = reason


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def decode_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    for _ in range(4):
        if pos >= len(buf):
            raise ProtocolError("truncated variable byte integer")
        byte = buf[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ProtocolError("variable byte integer longer than 4 bytes")


async def read_packet(reader: asyncio.StreamReader, max_size: int) -> tuple[int, int, bytes]:
    """Read one packet: ``(type, flags, body)``. Raises ``IncompleteReadError`` at EOF and
    ``ProtocolError`` when the packet is larger than ``max_size``."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    else:
        raise ProtocolError("remaining length longer than 4 bytes")
    if length > max_size:
        raise ProtocolError(f"packet of {length} bytes is over the {max_size} byte limit", RC_PACKET_TOO_LARGE)
    body = await reader.readexactly(length) if length else b""
    return first >> 4, first & 0x0F, body


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + encode_varint(len(body)) + body


def read_u16(buf: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(buf):
        raise ProtocolError("truncated two-byte integer")
    return struct.unpack_from("!H", buf, pos)[0], pos + 2


def read_binary(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = read_u16(buf, pos)
    if pos + n > len(buf):
        raise ProtocolError("truncated string or binary field")
    return bytes(buf[pos : pos + n]), pos + n


def read_string(buf: bytes, pos: int) -> tuple[str, int]:
    raw, pos = read_binary(buf, pos)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("string is not UTF-8") from None
    if "\x00" in text:
        raise ProtocolError("string contains U+0000")
    return text, pos


def enc_binary(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def enc_string(text: str) -> bytes:
    return enc_binary(text.encode("utf-8"))


def read_u8(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise ProtocolError("truncated one-byte field")
    return buf[pos], pos + 1


def read_u32(buf: bytes, pos: int) -> tuple[int, int]:
    if pos + 4 > len(buf):
        raise ProtocolError("truncated four-byte integer")
    return struct.unpack_from("!I", buf, pos)[0], pos + 4


# An MQTT 5 property: (identifier, value); the value is an int, str, bytes or (name, value)
# pair depending on the identifier.
Property = tuple[int, Any]


def read_properties(buf: bytes, pos: int) -> tuple[list[Property], int]:
    """MQTT 5 properties as ``[(id, value), ...]`` (user properties are ``(name, value)``).
    Every field is read inside the declared property length, so a property cut short is a
    ``ProtocolError`` (malformed packet), never an exception from ``struct`` or indexing."""
    length, pos = decode_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise ProtocolError("truncated properties")
    region = bytes(buf[:end])  # reads past ``end`` fail as truncation, not into the payload
    props: list[Property] = []
    value: Any
    while pos < end:
        pid, pos = decode_varint(region, pos)
        if pid in _BYTE:
            value, pos = read_u8(region, pos)
        elif pid in _U16:
            value, pos = read_u16(region, pos)
        elif pid in _U32:
            value, pos = read_u32(region, pos)
        elif pid in _VARINT:
            value, pos = decode_varint(region, pos)
        elif pid in _STRING:
            value, pos = read_string(region, pos)
        elif pid in _BINARY:
            value, pos = read_binary(region, pos)
        elif pid == USER_PROPERTY:
            name, pos = read_string(region, pos)
            text, pos = read_string(region, pos)
            value = (name, text)
        else:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
        props.append((pid, value))
    return props, end


def enc_properties(props: Sequence[Property]) -> bytes:
    out = bytearray()
    for pid, value in props:
        out += encode_varint(pid)
        if pid in _BYTE:
            out.append(int(value))
        elif pid in _U16:
            out += struct.pack("!H", value)
        elif pid in _U32:
            out += struct.pack("!I", value)
        elif pid in _VARINT:
            out += encode_varint(value)
        elif pid in _STRING:
            out += enc_string(value)
        elif pid in _BINARY:
            out += enc_binary(value)
        elif pid == USER_PROPERTY:
            out += enc_string(value[0]) + enc_string(value[1])
    return encode_varint(len(out)) + bytes(out)


def valid_topic_name(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic and len(topic.encode()) <= 65535


def valid_topic_filter(flt: str) -> bool:
    if not flt:
        return False
    levels = flt.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(flt: str, topic: str) -> bool:
    """MQTT wildcard match (``+`` one level, ``#`` the rest); ``$`` topics need an explicit filter."""
    if topic.startswith("$") and not flt.startswith("$"):
        return False
    f_levels, t_levels = flt.split("/"), topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level != "+" and level != t_levels[i]):
            return False
    return len(f_levels) == len(t_levels)
