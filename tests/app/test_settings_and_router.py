"""Settings page (saved, validated) and the router's chrome (language, world, health, pages)."""

from __future__ import annotations

import json

from tests.app.conftest import ROOT, open_page, texts


def test_settings_are_saved_durably_and_used(app, settings):
    open_page(app, "settings")
    app.number_input(key="set_threshold").set_value(95.0)
    app.text_input(key="set_device_id").input("gate-2")
    app.number_input(key="set_retention_unknown").set_value(1.0)
    app.number_input(key="set_retention_logs").set_value(90.0)
    app.button(key="FormSubmitter:settings_form-保存").click().run()
    assert not app.exception
    assert "保存しました。" in texts(app)
    saved = json.loads((settings.data_dir / "settings.json").read_text())
    assert saved["match_threshold"] == 95.0 and saved["device_id"] == "gate-2"
    assert saved["retention_unknown_hours"] == 1.0 and saved["retention_log_days"] == 90.0
    # The chrome now shows the new device id.
    assert "端末 gate-2" in texts(app)


def test_invalid_settings_are_refused_with_the_reason(app, settings):
    open_page(app, "settings")
    app.text_input(key="set_collection").input("my faces!")
    app.button(key="FormSubmitter:settings_form-保存").click().run()
    assert "設定に誤りがあります: FACEGATE_COLLECTION must match" in texts(app)
    assert not (settings.data_dir / "settings.json").exists()


def test_chrome_shows_world_health_device_and_phone_qr(app):
    seen = texts(app)
    assert "🟢 ローカル · 端末 id001 · 正常" in seen
    for component in ("顔コレクション", "写真ストレージ", "ログ送信", "ログ保存"):
        assert f"✅ **{component}**" in seen
    assert "**スマートフォンで開く**: `http://" in seen
    app.segmented_control(key="lang").set_value("en").run()
    assert "🟢 local · device id001 · all OK" in texts(app)


def test_app_pages_open_from_the_router(app):
    # The other pages (logs, analytics, quicksight) are tested by their owners' suites.
    for name in ("camera", "people", "history", "settings"):
        assert (ROOT / "pages" / f"{name}.py").exists()
        open_page(app, name)
        assert app.title and "🟢" in texts(app), name  # the page and the router's chrome
