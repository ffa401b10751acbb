"""A tiny blocking MQTT client over Python's ssl, for tests that need exact packets
(a chosen client id, a repeated message id, no certificate at all)."""

from __future__ import annotations

import socket
import ssl
import struct

from core.telemetry import wire


def tls_context(ca_file, cert_file=None, key_file=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert_file:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


class RawClient:
    def __init__(self, port: int, ctx: ssl.SSLContext, timeout: float = 5.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.buf = b""

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the broker")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_packet(self) -> tuple[int, bytes]:
        first = self._read(1)[0]
        length, shift = 0, 0
        while True:
            b = self._read(1)[0]
            length += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first >> 4, self._read(length)

    def connect(self, client_id: str, version: int = 5) -> int:
        """Send CONNECT; return the CONNACK reason/return code."""
        body = wire.enc_string("MQTT") + bytes([version, 0x02]) + struct.pack("!H", 30)
        if version == 5:
            body += wire.enc_properties([])
        body += wire.enc_string(client_id)
        self.sock.sendall(wire.packet(wire.CONNECT, 0, body))
        kind, data = self.read_packet()
        assert kind == wire.CONNACK
        return data[1]

    def publish(
        self, topic: str, payload: bytes, packet_id: int, message_id: str | None = None, version: int = 5
    ) -> int:
        """QoS 1 PUBLISH; return the PUBACK reason code (0 = success)."""
        body = wire.enc_string(topic) + struct.pack("!H", packet_id)
        if version == 5:
            props = [(wire.USER_PROPERTY, ("facegate-id", message_id))] if message_id else []
            body += wire.enc_properties(props)
        self.sock.sendall(wire.packet(wire.PUBLISH, 0x02, body + payload))
        kind, data = self.read_packet()
        assert kind == wire.PUBACK, kind
        assert struct.unpack_from("!H", data)[0] == packet_id
        return data[2] if len(data) > 2 else 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
