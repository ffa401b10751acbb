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
    app.button(key=SAVE).click().run()
    assert not app.exception
    assert "保存しました。" in texts(app)
    saved = json.loads((settings.data_dir / "settings.json").read_text())
    assert saved["match_threshold"] == 95.0 and saved["device_id"] == "gate-2"
    assert saved["retention_unknown_hours"] == 1.0 and saved["retention_log_days"] == 90.0
    # The chrome now shows the new device id.
    assert "端末 gate-2" in texts(app)


SAVE = "FormSubmitter:settings_form-保存"


def test_invalid_settings_are_refused_with_the_reason(app, settings):
    """Issue 17 §14: a human message, not a regex and a variable name; an out-of-range
    threshold says so instead of saving nothing silently."""
    open_page(app, "settings")
    app.text_input(key="set_collection").input("my faces!")
    app.button(key=SAVE).click().run()
    seen = texts(app)
    assert "保存していません: 顔コレクション名には半角の英数字と _ . - だけが使えます" in seen
    assert "FACEGATE_" not in seen and "[a-zA-Z" not in seen
    assert not (settings.data_dir / "settings.json").exists()
    app.text_input(key="set_collection").input("facegate")
    app.number_input(key="set_threshold").set_value(150.0)
    app.button(key=SAVE).click().run()
    assert not app.exception
    assert "保存していません: しきい値は 0〜100 の数で入力してください。" in texts(app)
    assert not (settings.data_dir / "settings.json").exists()


def test_a_low_threshold_is_saved_only_after_a_warning(app, settings):
    open_page(app, "settings")
    app.number_input(key="set_threshold").set_value(20.0)
    app.button(key=SAVE).click().run()
    assert "しきい値 20% は低すぎます。別人を本人と判定し" in texts(app)
    assert not (settings.data_dir / "settings.json").exists()
    app.button(key="settings_save_anyway").click().run()
    assert "保存しました。" in texts(app)
    assert json.loads((settings.data_dir / "settings.json").read_text())["match_threshold"] == 20.0
    assert "しきい値 20% は低すぎます" in texts(app)  # and the page keeps saying so


def test_chrome_shows_world_health_device_in_the_users_language(app, enrol):
    import streamlit as st

    enrol("amy", n=1)
    st.cache_data.clear()  # the status line is cached for 20 s
    app.run()
    seen = texts(app)
    assert "🟢 ローカル · 端末 id001 · 正常" in seen
    for component in ("顔コレクション", "写真ストレージ", "ログ送信", "ログ保存"):
        assert f"✅ **{component}**" in seen
    # Japanese all the way: no "facegate: 1 faces", no exception class names.
    assert "✅ **顔コレクション** — facegate: 顔 1 件" in seen
    assert "ブローカーなし: ログ保存に直接書き込みます" in seen
    app.segmented_control(key="lang").set_value("en").run()
    assert "🟢 local · device id001 · all OK" in texts(app)
    assert "✅ **Face collection** — facegate: 1 face(s)" in texts(app)


def test_phone_qr_only_when_a_phone_can_use_it(app, monkeypatch):
    """Issue 17 §5: under ``make run`` (http on 127.0.0.1) a QR code of the LAN address opens
    nothing; the panel says how instead. Over https on every interface it shows the code."""
    import streamlit as st

    from core.app import lan

    options = {"server.address": "127.0.0.1", "server.sslCertFile": None, "server.port": 8501}
    real = st.get_option
    monkeypatch.setattr(st, "get_option", lambda name: options[name] if name in options else real(name))
    seen = texts(app.run())
    assert not app.image, "a QR code that cannot work"
    assert "今はこのコンピューターからしか開けません（127.0.0.1 で待ち受け中）。" in seen
    assert "`make run-https`" in seen
    options.update({"server.address": "0.0.0.0"})
    seen = texts(app.run())
    assert not app.image and "スマートフォンは https でないとカメラを使わせません。" in seen
    monkeypatch.setattr(lan, "lan_ip", lambda: "192.0.2.7")
    options.update({"server.sslCertFile": "/x/app-cert.pem"})
    seen = texts(app.run())
    assert "**スマートフォンで開く**: `https://192.0.2.7:8501/`" in seen and len(app.image) == 1


def test_phone_access_rules():
    from core.app.lan import phone_access

    assert phone_access("127.0.0.1", 8501, True).why == "loopback"
    assert phone_access("localhost", 8501, True).why == "loopback"
    assert phone_access(None, 8501, False).why == "http"
    assert phone_access("192.0.2.9", 8501, True).url == "https://192.0.2.9:8501/"


def test_status_line_says_when_the_broker_cannot_be_reached(settings, admin, monkeypatch):
    """A publisher that tried and cannot reach its broker is the one real problem; the line
    says the records are kept (the outbox), in the user's language."""
    from tests.app.conftest import _start
    from tests.telemetry.conftest import free_port

    monkeypatch.setenv("FACEGATE_PUBLISHER", "mqtt")
    monkeypatch.setenv("FACEGATE_MQTT_PORT", str(free_port()))  # nobody listens there
    import streamlit as st

    from core.bootstrap import close_shared_services

    close_shared_services()
    st.cache_data.clear()
    try:
        at = _start(admin.token)
        from tests.telemetry.conftest import wait_for

        def offline():
            st.cache_data.clear()
            return "🔴" in texts(at.run())

        wait_for(offline, timeout=30, interval=0.5)
        seen = texts(at)
        assert "1 件の問題" in seen
        assert "❌ **ログ送信** — 127.0.0.1:" in seen and "は保存済みで、接続が戻ると送られます。" in seen
        assert "ConnectionError" not in seen
        # The panel stays folded (issue 17 §3: open, it pushed the camera's shutter off a phone's screen).
        status = next(e for e in at.expander if "件の問題" in e.label)
        assert not status.proto.expanded
    finally:
        close_shared_services()


def test_app_pages_open_from_the_router(app):
    # The other pages (logs, analytics, quicksight) are tested by their owners' suites.
    for name in ("camera", "people", "history", "settings"):
        assert (ROOT / "pages" / f"{name}.py").exists()
        open_page(app, name)
        assert app.title and "🟢" in texts(app), name  # the page and the router's chrome
