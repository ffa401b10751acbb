"""Issue 14 §7: the course's usage plan (2,000 requests a month) ran out after a few hundred
photos because each photo cost one ``/analyze`` plus one ``/search`` per face. Now a photo costs
one Web API request, and the settings page shows what is left."""

from __future__ import annotations

from datetime import date

import pytest
from botocore.stub import Stubber

from core.web.quota import ApiQuota, api_quota, period_bounds
from tests.aws.conftest import REGION
from tests.aws.fakes import intercept


def _aws(settings, **changes):
    import dataclasses

    return dataclasses.replace(settings, backend="aws", region=REGION, **changes)


def test_the_quota_left_is_read_from_the_usage_plan_and_the_keys_usage(moto_session, tmp_path):
    from core.config import load_settings

    base = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path)}, secrets_file=tmp_path / "none.toml")
    settings = _aws(base, usage_plan_id="plan1", api_key_id="key1")
    client = moto_session.client("apigateway", region_name=REGION)
    with Stubber(client) as stub:  # shapes validated against API Gateway's model
        stub.add_response(
            "get_usage_plan",
            {"id": "plan1", "quota": {"limit": 2000, "offset": 0, "period": "MONTH"}},
            {"usagePlanId": "plan1"},
        )
        stub.add_response(
            "get_usage",
            {"usagePlanId": "plan1", "items": {"key1": [[5, 1995], [0, 1995], [7, 1988]]}},
            {"usagePlanId": "plan1", "keyId": "key1", "startDate": "2026-12-01", "endDate": "2026-12-03"},
        )
        quota = api_quota(settings, client=client, today=date(2026, 12, 3))
        stub.assert_no_pending_responses()
    assert quota == ApiQuota(limit=2000, used=12, remaining=1988, period="MONTH", resets=date(2027, 1, 1))
    # nothing used yet this period: all of it is left
    with Stubber(client) as stub:
        stub.add_response("get_usage_plan", {"quota": {"limit": 2000, "period": "MONTH"}}, {"usagePlanId": "plan1"})
        stub.add_response("get_usage", {"items": {}})
        assert api_quota(settings, client=client, today=date(2026, 12, 31)).remaining == 2000
    # the local world, or a stack deployed before the ids were recorded: no line, no call
    assert api_quota(base, client=client) is None
    assert api_quota(_aws(base), client=client) is None


def test_period_bounds_follow_api_gateways_periods():
    assert period_bounds("MONTH", date(2026, 12, 15)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert period_bounds("WEEK", date(2026, 12, 3)) == (date(2026, 11, 30), date(2026, 12, 7))  # Monday
    assert period_bounds("DAY", date(2026, 2, 28)) == (date(2026, 2, 28), date(2026, 3, 1))


def test_deploy_up_records_the_plan_and_key_the_settings_page_reads(account):
    """The ids ``up`` writes are the stack's usage plan and key (moto's API Gateway); the
    plan's quota is the course's 2,000 a month. moto has no GetUsage: that one call is answered
    here with what API Gateway returns for a key that has made 3 requests."""
    from core.config import load_settings

    account.deployer().up()
    settings = load_settings(env={"FACEGATE_DATA_DIR": str(account.tmp / "app")}, secrets_file=account.secrets)
    assert settings.backend == "aws" and settings.usage_plan_id and settings.api_key_id
    client = account.client("apigateway")
    plan = client.get_usage_plan(usagePlanId=settings.usage_plan_id)
    keys = client.get_usage_plan_keys(usagePlanId=settings.usage_plan_id)["items"]
    assert [k["id"] for k in keys] == [settings.api_key_id]
    seen = []

    def usage(operation, params):
        if operation != "GetUsage":
            return None
        seen.append(params)
        return {"usagePlanId": params["usagePlanId"], "items": {params["keyId"]: [[3, plan["quota"]["limit"] - 3]]}}

    intercept(client, usage)
    quota = api_quota(settings, client=client)
    assert seen and seen[0]["usagePlanId"] == settings.usage_plan_id and seen[0]["keyId"] == settings.api_key_id
    assert quota.limit == 2000 and quota.period == "MONTH" and quota.remaining == 1997


@pytest.fixture
def photo_world(services, labelled, admin):
    """The local world with two enrolled people and the real in-process Web API, counted."""
    from core.usecases import people
    from tests.app.conftest import jpeg

    names = sorted(labelled)[:2]
    for name in names:
        outcomes = people.enrol_person(services, name, [(p.name, jpeg(p)) for p in labelled[name][:2]])
        assert all(o.indexed for o in outcomes)
    return services, names


class CountingApi:
    """The real Web API client, counting the requests the app makes through it."""

    def __init__(self, api):
        self.api, self.requests = api, []

    def search(self, *args, **kwargs):
        self.requests.append("search")
        return self.api.search(*args, **kwargs)

    def analyze(self, *args, **kwargs):
        self.requests.append("analyze")
        return self.api.analyze(*args, **kwargs)


def test_a_photo_of_two_people_costs_one_web_api_request(photo_world, labelled):
    import io

    from PIL import Image

    from core.usecases.capture import capture_photo

    services, names = photo_world
    faces = [Image.open(labelled[name][-1]).convert("RGB").resize((400, 400)) for name in names]
    canvas = Image.new("RGB", (1000, 560), (200, 205, 210))
    canvas.paste(faces[0], (40, 80))
    canvas.paste(faces[1], (560, 80))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=92)
    counted = services.api = CountingApi(services.api)
    result = capture_photo(services, buf.getvalue(), "group")
    assert counted.requests == ["search"]  # before: analyze + a search per face
    assert sorted(f.person for f in result.faces) == sorted(names)  # both still identified
