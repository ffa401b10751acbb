"""The aws world's event store: reads what the IoT rules wrote (``deploy/template.yaml``).

- sensor: the DynamoDB table (partition ``DeviceID``, sort ``Datetime``): ``Query`` per device
  with a ``Datetime`` range; without a device, a ``Scan`` filtered on ``Datetime``.
- auth / door: one S3 object per message, ``auth/<epoch ms>-<uuid>-auth-log-data.json`` and
  ``door/...-door-open-log-data.json``. The key starts with the rule's ``timestamp()``, so a time
  range is a key range (``StartAfter``) instead of a listing of the whole bucket.
- analysis: Firehose's newline-separated JSON under ``analysis/dt=YYYY-MM-DD/``: one listing
  per day in range; or Athena over the Glue table ``analysis_log`` when ``athena`` is given.

``append`` writes the same layout (PutItem / PutObject), so demo data and tests can fill an
aws world; idempotent by id (the id is part of the object key; a sensor item is keyed by
device and time, so a repeat overwrites itself).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:  # imported where a frame is built: the Lambda functions never build one
    import pandas as pd

from core.aws.clients import aws_client, aws_errors
from core.errors import InvalidParameter, ServiceUnavailable
from core.events.columns import CONTRACT_FIELDS, parse_datetime_us
from core.events.port import KINDS, EventStore
from core.events.records import parse_json_lines

LOG_PREFIXES = {
    "auth": ("auth/", "-auth-log-data.json"),
    "door": ("door/", "-door-open-log-data.json"),
    "analysis": ("analysis/", ".json"),
}
# Rules stamp the key when the message arrives; Firehose buffers up to 60 s (or 900 s at most).
KEY_SLACK = timedelta(minutes=16)


def _bound_us(value, name: str) -> int | None:
    if value is None or value == "":
        return None
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    us = parse_datetime_us(value)
    if us is None:
        raise InvalidParameter(f"{name} is not a date/time: {value!r}")
    return us


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _frame(kind: str, records: list[dict], since: int | None, until: int | None, limit: int | None) -> pd.DataFrame:
    """Payload-named frame in the same shape as the local store's ``query``."""
    import pandas as pd  # noqa: PLC0415 (see the import at the top)

    stamps = [parse_datetime_us(r.get("Datetime")) for r in records]
    keep = [
        (s, r)
        for s, r in zip(stamps, records, strict=True)
        if (since is None or (s is not None and s >= since)) and (until is None or (s is not None and s < until))
    ]
    keep.sort(key=lambda p: (p[0] is not None, p[0] or 0))
    if limit:
        keep = keep[-int(limit) :]
    frame = pd.DataFrame([r for _, r in keep])
    for field in CONTRACT_FIELDS[kind]:
        if field not in frame:
            frame[field] = pd.Series([None] * len(frame), dtype="object")
    frame["Datetime"] = pd.to_datetime(pd.Series([s for s, _ in keep], dtype="float64"), unit="us", utc=True)
    for column in frame.columns:  # DynamoDB numbers arrive as Decimal, in object columns only
        if frame[column].dtype == object and frame[column].map(lambda v: isinstance(v, Decimal)).any():
            frame[column] = frame[column].map(lambda v: float(v) if isinstance(v, Decimal) else v)
    return frame.reset_index(drop=True)


class AwsEventStore(EventStore):
    def __init__(self, dynamodb, s3, *, sensor_table: str, logs_bucket: str, athena=None):
        self.dynamodb = dynamodb
        self.s3 = s3
        self.sensor_table = sensor_table
        self.logs_bucket = logs_bucket
        self.athena = athena

    # ------------------------------------------------------------------ writes
    def append(self, kind, records, ids, *, received=None, senders=None):
        """Write records where the IoT rules would. Returns how many were written."""
        if kind not in KINDS:
            raise InvalidParameter(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if len(records) != len(ids):
            raise InvalidParameter("records and ids must have the same length")

        serializer = TypeSerializer()
        with aws_errors():
            for record, message_id in zip(records, ids, strict=True):
                if kind == "sensor":
                    if not record.get("DeviceID") or not record.get("Datetime"):
                        raise InvalidParameter("a sensor record needs DeviceID and Datetime (the table's keys)")
                    item = {
                        k: serializer.serialize(Decimal(str(v)) if isinstance(v, float) else v)
                        for k, v in record.items()
                    }
                    self.dynamodb.put_item(TableName=self.sensor_table, Item=item)
                    continue
                us = parse_datetime_us(record.get("Datetime")) or int(time.time() * 1e6)
                prefix, suffix = LOG_PREFIXES[kind]
                if kind == "analysis":
                    day = datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d")
                    key = f"{prefix}dt={day}/{us // 1000}-{message_id}{suffix}"
                else:
                    key = f"{prefix}{us // 1000}-{message_id}{suffix}"
                self.s3.put_object(
                    Bucket=self.logs_bucket, Key=key, Body=json.dumps(record, ensure_ascii=False).encode() + b"\n"
                )
        return len(records)

    # ------------------------------------------------------------------ reads
    def query(self, kind, *, device=None, since=None, until=None, limit=None, receipts=False):
        """Events of ``kind`` in [since, until) (payload columns, oldest first; the logs hold no
        receipts, so ``receipts`` adds nothing). Raises
        InvalidParameter, AccessDenied, ResourceNotFound, Throttled or ServiceUnavailable."""
        if kind not in KINDS:
            raise InvalidParameter(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        lo, hi = _bound_us(since, "since"), _bound_us(until, "until")
        with aws_errors():
            if kind == "sensor":
                records = self._sensor(device, lo, hi, limit)
            elif kind == "analysis" and self.athena is not None:
                records = self.athena.analysis_records(lo, hi)
            else:
                records = self._logs(kind, lo, hi)
        if device and kind != "sensor":
            records = [r for r in records if r.get("DeviceID") == device]
        return _frame(kind, records, lo, hi, limit)

    def _sensor(self, device, lo, hi, limit) -> list[dict]:

        des = TypeDeserializer()
        names, values, cond = {"#d": "Datetime"}, {}, []
        if lo is not None:
            cond.append("#d >= :lo")
            values[":lo"] = {"S": _iso(lo)}
        if hi is not None:
            cond.append("#d < :hi")
            values[":hi"] = {"S": _iso(hi)}
        if device:
            values[":dev"] = {"S": device}
            if lo is not None and hi is not None:
                key = "DeviceID = :dev AND #d BETWEEN :lo AND :hi"  # inclusive; ``_frame`` drops == hi
            else:
                key = " AND ".join(["DeviceID = :dev", *cond])
            kwargs: dict[str, object] = {
                "TableName": self.sensor_table,
                "KeyConditionExpression": key,
                "ExpressionAttributeValues": values,
            }
            if cond:
                kwargs["ExpressionAttributeNames"] = names
            if limit:
                kwargs["ScanIndexForward"] = False  # newest first, stop after ``limit``
            pages = self.dynamodb.get_paginator("query").paginate(**kwargs)
        else:
            kwargs = {"TableName": self.sensor_table}  # the same dict type as above
            if cond:
                kwargs.update(
                    FilterExpression=" AND ".join(cond),
                    ExpressionAttributeValues=values,
                    ExpressionAttributeNames=names,
                )
            pages = self.dynamodb.get_paginator("scan").paginate(**kwargs)
        out: list[dict] = []
        for page in pages:
            out.extend({k: des.deserialize(v) for k, v in item.items()} for item in page.get("Items", []))
            if device and limit and len(out) >= limit:
                break
        return out

    def _log_keys(self, kind: str, lo, hi) -> list[str]:
        prefix, suffix = LOG_PREFIXES[kind]
        paginator = self.s3.get_paginator("list_objects_v2")
        slack = int(KEY_SLACK.total_seconds() * 1000)
        keys: list[str] = []
        if kind == "analysis":
            if lo is None or hi is None:
                prefixes = [prefix]
            else:
                first = datetime.fromtimestamp(lo / 1e6, UTC).date()
                last = datetime.fromtimestamp((hi + slack * 1000) / 1e6, UTC).date()
                prefixes = [f"{prefix}dt={first + timedelta(days=n)}/" for n in range((last - first).days + 1)]
            for p in prefixes:
                for page in paginator.paginate(Bucket=self.logs_bucket, Prefix=p):
                    keys.extend(o["Key"] for o in page.get("Contents", []))
            return keys
        kwargs = {"Bucket": self.logs_bucket, "Prefix": prefix}
        if lo is not None:
            kwargs["StartAfter"] = f"{prefix}{max(0, lo // 1000 - slack):013d}"
        for page in paginator.paginate(**kwargs):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                stamp = key[len(prefix) :].split("-", 1)[0]
                if hi is not None and stamp.isdigit() and int(stamp) > hi // 1000 + slack:
                    return keys
                if key.endswith(suffix):
                    keys.append(key)
        return keys

    def _logs(self, kind: str, lo, hi) -> list[dict]:
        records = []
        for key in self._log_keys(kind, lo, hi):
            body = self.s3.get_object(Bucket=self.logs_bucket, Key=key)["Body"].read()
            records.extend(parse_json_lines(body))
        return records


class AthenaAnalysisReader:
    """Analysis records through Athena (the course's table, partition ``dt`` by day)."""

    COLUMNS = {
        "datetime": "Datetime",
        "agerange-low": "AgeRange-Low",
        "agerange-high": "AgeRange-High",
        "gender": "Gender",
        "smile": "Smile",
        "eyeglasses": "Eyeglasses",
        "sunglasses": "Sunglasses",
        "beard": "Beard",
        "mustache": "Mustache",
        "eyesopen": "EyesOpen",
        "mouthopen": "MouthOpen",
    }

    def __init__(
        self,
        athena,
        *,
        database: str,
        table: str = "analysis_log",
        workgroup: str,
        poll_seconds: float = 0.5,
        timeout_seconds: float = 60.0,
        sleep=time.sleep,
    ):
        self.athena = athena
        self.database, self.table, self.workgroup = database, table, workgroup
        self.poll_seconds, self.timeout_seconds, self._sleep = poll_seconds, timeout_seconds, sleep

    def sql(self, lo: int | None, hi: int | None) -> str:
        cols = ", ".join(f'"{c}"' for c in self.COLUMNS)
        where = []
        if lo is not None:
            where.append(f"dt >= '{_iso(lo)[:10]}' AND \"datetime\" >= timestamp '{_iso(lo).replace('T', ' ')}'")
        if hi is not None:
            where.append(f"dt <= '{_iso(hi)[:10]}' AND \"datetime\" < timestamp '{_iso(hi).replace('T', ' ')}'")
        return f'SELECT {cols} FROM "{self.table}"' + (" WHERE " + " AND ".join(where) if where else "")

    def analysis_records(self, lo: int | None, hi: int | None) -> list[dict]:
        """Records as the course's payload dicts. Raises ServiceUnavailable when the query
        fails or does not finish within the timeout (the message says which)."""
        qid = self.athena.start_query_execution(
            QueryString=self.sql(lo, hi), QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup
        )["QueryExecutionId"]
        waited = 0.0
        while True:
            status = self.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                raise ServiceUnavailable(
                    f"Athena query {qid} {state.lower()}: {status.get('StateChangeReason', 'no reason given')}"
                )
            if waited >= self.timeout_seconds:
                raise ServiceUnavailable(f"Athena query {qid} still {state.lower()} after {self.timeout_seconds:.0f} s")
            self._sleep(self.poll_seconds)
            waited += self.poll_seconds
        out, token, header = [], None, None
        while True:
            kwargs = {"QueryExecutionId": qid, "MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            page = self.athena.get_query_results(**kwargs)
            rows = page["ResultSet"]["Rows"]
            if header is None:
                header = [d.get("VarCharValue") for d in rows[0]["Data"]] if rows else []
                rows = rows[1:]
            for row in rows:
                values = [d.get("VarCharValue") for d in row["Data"]]
                out.append({self.COLUMNS.get(h, h): _athena_value(h, v) for h, v in zip(header, values, strict=False)})
            token = page.get("NextToken")
            if not token:
                return out


def _athena_value(column: str, value):
    if value is None:
        return None
    if column.startswith("agerange"):
        return int(value)
    if column in ("smile", "eyeglasses", "sunglasses", "beard", "mustache", "eyesopen", "mouthopen"):
        return value.lower() == "true"
    if column == "datetime":
        return value[:19]  # Athena prints "2019-08-08 18:12:00.000"; the course's format has no fraction
    return value


def build_aws_event_store(settings, session=None, use_athena: bool = False) -> AwsEventStore:
    """The aws event store for ``settings`` (called by ``core.bootstrap.aws``)."""
    athena = None
    if use_athena:
        athena = AthenaAnalysisReader(
            aws_client("athena", settings.region, session),
            # Written by `deploy up` from the stack's outputs; the template's own defaults else.
            database=settings.glue_database or settings.stack_name.lower().replace("-", "_"),
            workgroup=settings.athena_workgroup or f"{settings.stack_name}-logs",
        )
    return AwsEventStore(
        aws_client("dynamodb", settings.region, session),
        aws_client("s3", settings.region, session),
        sensor_table=settings.sensor_table,
        logs_bucket=settings.logs_bucket,
        athena=athena,
    )
