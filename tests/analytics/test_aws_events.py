"""The aws event store: moto for DynamoDB and S3 (faithful there), Stubber for Athena; and the
same chart SQL running on what it returns."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from core.analytics import queries as Q
from core.errors import InvalidParameter, ServiceUnavailable
from core.events.aws import AthenaAnalysisReader, AwsEventStore, parse_json_lines
from tests.analytics.conftest import T0, fill

REGION = "ap-northeast-1"


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        ddb.create_table(
            TableName="facegate-sensor",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "DeviceID", "KeyType": "HASH"},
                {"AttributeName": "Datetime", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "DeviceID", "AttributeType": "S"},
                {"AttributeName": "Datetime", "AttributeType": "S"},
            ],
        )
        s3.create_bucket(Bucket="facegate-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield AwsEventStore(ddb, s3, sensor_table="facegate-sensor", logs_bucket="facegate-logs")


def test_rule_layout_round_trip_and_sensor_query_by_device(aws):
    fill(aws)
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket="facegate-logs")["Contents"]]
    assert sum(k.startswith("auth/") and k.endswith("-auth-log-data.json") for k in keys) == 6
    assert sum(k.startswith("door/") and k.endswith("-door-open-log-data.json") for k in keys) == 2
    assert sum(k.startswith("analysis/dt=2026-11-0") for k in keys) == 5
    auth = aws.query("auth")
    assert auth["PictureName"].tolist() == ["cap1.jpg", "cap2.jpg", "cap2.jpg", "cap3.jpg", "cap4.jpg", "cap5.jpg"]
    assert str(auth["Datetime"].dt.tz) == "UTC"
    sensor = aws.query("sensor", device="id001", since=T0 + timedelta(minutes=30), until=T0 + timedelta(minutes=60))
    assert sensor["Value"].tolist() == [3.0, 4.0, 5.0]  # Query on the key range, end excluded
    assert aws.query("sensor", device="id001", limit=2)["Value"].tolist() == [10.0, 11.0]
    everyone = aws.query("sensor", since=T0, until=T0 + timedelta(minutes=2))
    assert sorted(everyone["DeviceID"].tolist()) == ["id001", "id002", "id002"]  # Scan filtered on Datetime


def test_time_range_reads_only_objects_in_range(aws):
    fill(aws)
    calls = []
    original = aws.s3.get_object
    aws.s3.get_object = lambda **kw: calls.append(kw["Key"]) or original(**kw)
    door = aws.query("door", since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    assert door["Person"].tolist() == ["Hanako"]
    assert len(calls) == 1  # the key's timestamp() prefix prunes the other object
    calls.clear()
    analysis = aws.query("analysis", since=T0 + timedelta(days=2), until=T0 + timedelta(days=3))
    assert len(analysis) == 1 and all("dt=2026-11-04" in k for k in calls)


def test_same_chart_sql_runs_on_the_aws_store(aws):
    fill(aws)
    con = aws.columnar(since=T0 - timedelta(days=1), until=T0 + timedelta(days=5))
    assert Q.kpis(con, Q.AnalyticsFilter()) == {
        "captures": 5,
        "identified": 3,
        "unknown": 2,
        "people": 2,
        "door_opens": 2,
        "sensor_readings": 15,
        "faces_analysed": 5,
        "unreadable": 0,
    }
    assert Q.identification_by_day(con, Q.AnalyticsFilter())["captures"].tolist() == [2, 2, 1]


def test_what_iot_core_stored_as_sent_is_read_where_it_is_read(aws):
    """Issue 12 §3 in the aws world: the course's ``"Value": "123"`` is a DynamoDB string, a
    door log may lack ``Person``, ``"AgeRange-Low": "15"`` is a string in the Firehose log; the
    charts read them as the local world does, and what cannot be read is counted."""
    when = T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    aws.append(
        "sensor",
        [
            {"DeviceID": "id001", "Datetime": when, "Value": "123"},
            {
                "DeviceID": "id001",
                "Datetime": (T0 + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Value": "abc",
            },
        ],
        ["s1", "s2"],
    )
    aws.append("door", [{"DeviceID": "id001", "Datetime": when}], ["d1"])
    aws.append("analysis", [{"Datetime": when, "AgeRange-Low": "15", "AgeRange-High": 20, "Smile": "true"}], ["n1"])
    assert aws.query("sensor")["Value"].tolist() == ["123", "abc"]  # as stored
    con = aws.columnar(since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
    try:
        f = Q.AnalyticsFilter()
        series = Q.sensor_series(con, f, "day")
        assert series["readings"].tolist() == [2] and series["max"].tolist() == [123.0]
        kpis = Q.kpis(con, f)
        assert kpis["unreadable"] == 1 and kpis["door_opens"] == 1
        assert Q.age_distribution(con, f)["decade"].tolist() == [10]
    finally:
        con.close()


def test_bad_input_is_a_domain_error(aws):
    with pytest.raises(InvalidParameter):
        aws.query("weather")
    with pytest.raises(InvalidParameter):
        aws.query("auth", since="soon")
    with pytest.raises(InvalidParameter):
        aws.append("sensor", [{"Value": 1}], ["x"])


def test_log_objects_newline_concatenated_and_broken():
    body = b'{"a": 1}\n{"a": 2}{"a": 3}\nnot json\n{"a": 4}\n'
    assert [r["a"] for r in parse_json_lines(body)] == [1, 2, 3, 4]


def _athena():
    client = boto3.client("athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_athena_reader_polls_and_pages_results():
    client, stub = _athena()
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q1"},
        {"QueryString": ANY, "QueryExecutionContext": {"Database": "facegate"}, "WorkGroup": "facegate-logs"},
    )
    stub.add_response(
        "get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}}, {"QueryExecutionId": "q1"}
    )
    stub.add_response(
        "get_query_execution", {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}, {"QueryExecutionId": "q1"}
    )
    header = {"Data": [{"VarCharValue": c} for c in ("datetime", "agerange-low", "agerange-high", "gender", "smile")]}

    def row(*v):
        return {"Data": [{"VarCharValue": x} if x is not None else {} for x in v]}

    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {"Rows": [header, row("2026-11-02 09:00:00.000", "20", "28", "Male", "true")]},
            "NextToken": "t2",
        },
        {"QueryExecutionId": "q1", "MaxResults": 1000},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [row("2026-11-02 10:00:00.000", None, None, None, "false")]}},
        {"QueryExecutionId": "q1", "MaxResults": 1000, "NextToken": "t2"},
    )
    reader = AthenaAnalysisReader(client, database="facegate", workgroup="facegate-logs", sleep=lambda s: None)
    with stub:
        records = reader.analysis_records(None, None)
    stub.assert_no_pending_responses()
    assert records == [
        {"Datetime": "2026-11-02 09:00:00", "AgeRange-Low": 20, "AgeRange-High": 28, "Gender": "Male", "Smile": True},
        {
            "Datetime": "2026-11-02 10:00:00",
            "AgeRange-Low": None,
            "AgeRange-High": None,
            "Gender": None,
            "Smile": False,
        },
    ]


def test_athena_sql_prunes_partitions_and_failure_is_explained():
    client, stub = _athena()
    reader = AthenaAnalysisReader(client, database="facegate", workgroup="facegate-logs", sleep=lambda s: None)
    lo = int(T0.timestamp() * 1e6)
    sql = reader.sql(lo, lo + 86_400_000_000)
    assert "dt >= '2026-11-02'" in sql and "dt <= '2026-11-03'" in sql and '"agerange-low"' in sql
    stub.add_response("start_query_execution", {"QueryExecutionId": "q2"})
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: analysis_log"}}},
    )
    with stub, pytest.raises(ServiceUnavailable, match="TABLE_NOT_FOUND"):
        reader.analysis_records(lo, None)
