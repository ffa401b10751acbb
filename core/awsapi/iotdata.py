"""AWS IoT's data plane ``Publish`` (``POST /topics/{topic}?qos=``, REST-JSON), as the course's
device scripts call it with boto3's ``iot-data`` client and its phone page with the JavaScript
SDK's ``IotData``.

A publish is relayed to the MQTT broker as the credential's own identity (its name is the
client certificate's common name, issued by the local CA on first use), so it meets exactly
what an MQTT device meets: the broker's topic policy (and any quota or device check it
applies), the journal, the rule engine, the stores and the Logs page. The relay publishes at
QoS 1 whatever ``qos`` the caller asked for and answers 200 only once the broker has made the
message durable (its PUBACK); a refusal by the broker is 403 ForbiddenException, no broker
503 ServiceUnavailableException. MQTT 5 properties (user properties, content type, response
topic) are not forwarded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from core.awsapi import policy
from core.awsapi.errors import AwsError
from core.awsapi.http import AwsRequest
from core.telemetry.ca import LocalCA
from core.telemetry.local import mqtt_credentials, read_broker_status, split_endpoint, telemetry_paths

log = logging.getLogger("facegate.awsapi")

MAX_PAYLOAD_BYTES = 128 * 1024  # IoT Core's message size limit
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7  # IoT Core: at most 8 levels
CONNECT_TIMEOUT_S = 10.0
PUBACK_TIMEOUT_S = 15.0
_OK_REASONS = (0, 16)  # SUCCESS, NO_MATCHING_SUBSCRIBERS
_NOT_AUTHORIZED = 135
_QUOTA_EXCEEDED = 0x97


def error_response(err: AwsError, req: AwsRequest | None) -> Response:
    headers = {"x-amzn-RequestId": req.request_id if req else "", "x-amzn-ErrorType": f"{err.code}:"}
    body = {"message": err.message, "traceId": req.request_id if req else ""}
    return Response(json.dumps(body), status_code=err.status, media_type="application/json", headers=headers)


def cors_headers() -> dict:
    """The course's phone page publishes from the browser (JavaScript SDK): answer its CORS
    pre-flight. Requests are authorised by their signature, never by cookies, so any origin
    may ask."""
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "authorization, content-type, x-amz-date, x-amz-user-agent, "
        "x-amz-content-sha256, x-amz-security-token, amz-sdk-invocation-id, amz-sdk-request",
        "Access-Control-Expose-Headers": "x-amzn-RequestId, x-amzn-ErrorType",
        "Access-Control-Max-Age": "600",
    }


def topic_of(req: AwsRequest) -> str | None:
    """The topic of ``/topics/{topic}``, or None when the path is not a publish path."""
    if not req.raw_path.startswith("/topics/"):
        return None
    return unquote(req.raw_path[len("/topics/") :])


def check_topic(topic: str) -> None:
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise AwsError(
            "InvalidRequestException", "The topic name must be a valid MQTT topic name without wildcards", 400
        )
    if len(topic.encode()) > MAX_TOPIC_BYTES:
        raise AwsError("InvalidRequestException", "The topic name exceeds 256 bytes", 400)
    if topic.count("/") > MAX_TOPIC_SLASHES:
        raise AwsError("InvalidRequestException", "The topic name has more than 8 levels (7 slashes)", 400)


class _Link:
    """One MQTT 5 connection as an identity (awscrt, the SDK the app's own publisher uses)."""

    def __init__(self, identity: str, host: str, port: int, cert, key, ca):
        from awscrt import mqtt5  # noqa: PLC0415 (awscrt/awsiot are native and heavy: only when relaying)
        from awsiot import mqtt5_client_builder  # noqa: PLC0415 (with awscrt)

        self.mqtt5 = mqtt5
        self.connected = threading.Event()
        self.failure: str | None = None
        self.refused = False
        self.last_reason_string = ""
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=host,
            port=port,
            cert_filepath=str(cert),
            pri_key_filepath=str(key),
            ca_filepath=str(ca) if ca else None,
            # The thing name exactly: the broker accepts no other client id for a certificate.
            client_id=identity,
            keep_alive_interval_sec=60,
            extended_validation_and_flow_control_options=mqtt5.ExtendedValidationAndFlowControlOptions.NONE,
            offline_queue_behavior=mqtt5.ClientOperationQueueBehaviorType.FAIL_ALL_ON_DISCONNECT,
            min_reconnect_delay_ms=250,
            max_reconnect_delay_ms=5000,
            ack_timeout_sec=int(PUBACK_TIMEOUT_S),
            on_lifecycle_connection_success=self._on_connected,
            on_lifecycle_connection_failure=self._on_failed,
            on_lifecycle_disconnection=lambda _d: self.connected.clear(),
        )
        self.client.start()

    def _on_connected(self, _data) -> None:
        self.failure = None
        self.connected.set()

    def _on_failed(self, data) -> None:
        connack = getattr(data, "connack_packet", None)
        reason = getattr(connack, "reason_code", None) if connack is not None else None
        self.refused = reason is not None and int(reason) != 0
        self.failure = (
            f"reason code {int(reason)}"
            if reason is not None and self.refused
            else str(getattr(data, "exception", "") or "unreachable")
        )

    def publish(self, topic: str, payload: bytes, retain: bool, message_id: str) -> int:
        """PUBACK reason code; raises TimeoutError when there is no connection or no answer."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not self.connected.wait(0.1):
            if self.refused or time.monotonic() > deadline:
                raise TimeoutError(self.failure or "no connection")
        m = self.mqtt5
        packet = m.PublishPacket(
            topic=topic,
            payload=payload,
            qos=m.QoS.AT_LEAST_ONCE,
            retain=retain,
            user_properties=[m.UserProperty("facegate-id", message_id)],
        )
        result = self.client.publish(packet).result(PUBACK_TIMEOUT_S)
        if result.puback is None:
            return 0
        self.last_reason_string = result.puback.reason_string or ""
        return int(result.puback.reason_code)

    def close(self) -> None:
        try:
            self.client.stop()
        except Exception:  # noqa: BLE001 - closing a failed client is best effort
            pass


class BrokerRelay:
    """Publishes on the broker as a given identity; one kept connection per identity."""

    def __init__(self, settings):
        self.settings = settings
        self._links: dict[str, _Link] = {}
        self._lock = threading.Lock()

    def _endpoint(self) -> tuple[str, int]:

        s = self.settings
        if s.mqtt_endpoint:
            return split_endpoint(s.mqtt_endpoint)
        status = read_broker_status(s)
        if status is None:
            raise AwsError(
                "ServiceUnavailableException",
                "No MQTT broker is running: start the local world with `python -m core serve` (make run).",
                503,
            )
        host = status.get("host") or s.bind_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return host, int(status.get("port") or s.mqtt_port)

    def _link(self, identity: str) -> _Link:

        with self._lock:
            link = self._links.get(identity)
            if link is not None and not link.refused:
                return link
            if link is not None:
                link.close()
            host, port = self._endpoint()
            cert, key, ca = mqtt_credentials(self.settings, LocalCA(telemetry_paths(self.settings).pki), identity)
            link = self._links[identity] = _Link(identity, host, port, cert, key, ca)
            return link

    def publish(self, identity: str, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish and wait for the broker's acknowledgement. Raises AwsError
        (ForbiddenException, ServiceUnavailableException)."""
        link = self._link(identity)
        try:
            reason = link.publish(topic, payload, retain, uuid.uuid4().hex)
        except TimeoutError as exc:
            if link.refused:
                with self._lock:
                    self._links.pop(identity, None)
                link.close()
                raise AwsError(
                    "ForbiddenException", f"The broker refused the connection of {identity!r} ({exc})", 403
                ) from None
            raise AwsError("ServiceUnavailableException", f"The MQTT broker did not answer: {exc}", 503) from None
        except Exception as exc:  # noqa: BLE001 - awscrt raises its own error types on disconnects
            raise AwsError(
                "ServiceUnavailableException", f"The MQTT broker did not take the message: {exc}", 503
            ) from None
        if reason == _NOT_AUTHORIZED:
            raise AwsError("ForbiddenException", f"{identity!r} is not authorised to publish to {topic!r}", 403)
        if reason == _QUOTA_EXCEEDED:  # the broker's gateway: per-device quota, or its disk guard
            why = link.last_reason_string
            if why.startswith("storage full"):
                raise AwsError("ServiceUnavailableException", why, 503)
            raise AwsError("ThrottlingException", why or "Rate exceeded", 429)
        if reason not in _OK_REASONS:
            raise AwsError(
                "ServiceUnavailableException", f"The broker did not accept the message (reason code {reason})", 503
            )

    def close(self) -> None:
        with self._lock:
            links, self._links = list(self._links.values()), {}
        for link in links:
            link.close()


class IotDataApi:
    def __init__(self, relay: BrokerRelay):
        self.relay = relay

    async def handle(self, req: AwsRequest, body: bytes) -> Response:
        topic = topic_of(req)
        if topic is None or req.method != "POST":
            raise AwsError(
                "MethodNotAllowedException", "FaceGate's IoT data plane offers Publish only (POST /topics/{topic})", 405
            )
        check_topic(topic)
        qos = req.arg("qos", "0") or "0"
        if qos not in ("0", "1"):
            raise AwsError("InvalidRequestException", "qos must be 0 or 1 (IoT Core does not support QoS 2)", 400)
        retain = (req.arg("retain", "false") or "false").lower() == "true"
        if not policy.may_publish(req.role):
            raise AwsError("ForbiddenException", "These credentials may not publish", 403)
        identity = req.principal.name if req.principal else ""  # authenticate() set it
        await run_in_threadpool(self.relay.publish, identity, topic, body, retain)
        return Response(
            json.dumps({"message": "OK", "traceId": req.request_id}),
            media_type="application/json",
            headers={"x-amzn-RequestId": req.request_id, **cors_headers()},
        )
