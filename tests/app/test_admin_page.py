"""Admin page: the first-run setup and the sign-in say which secret was wrong (issue 17 §10)."""

from __future__ import annotations

from tests.app.conftest import _start, open_page, texts

SET = "FormSubmitter:admin_setup_form-設定してログイン"
SIGN_IN = "FormSubmitter:admin_sign_in_form-ログイン"


def test_wrong_setup_code_and_wrong_password_are_told_apart(settings):
    from core.access import sessions

    at = open_page(_start(None), "admin")
    assert sessions.access_control(settings).password_source() == "unset"
    at.text_input(key="admin_setup_code").input("not-the-code")
    at.text_input(key="admin_setup_new").input("a-good-long-password")
    at.text_input(key="admin_setup_again").input("a-good-long-password")
    at.button(key=SET).click().run()
    seen = texts(at)
    assert "セットアップコードが違います。" in seen and "権限がありません" not in seen

    code = sessions.access_control(settings).setup_code_path.read_text().strip()
    at.text_input(key="admin_setup_code").input(code)
    at.text_input(key="admin_setup_new").input("short")
    at.text_input(key="admin_setup_again").input("short")
    at.button(key=SET).click().run()
    assert "パスワードは 10 文字以上 1024 文字以下にしてください。" in texts(at)

    at.text_input(key="admin_setup_new").input("a-good-long-password")
    at.text_input(key="admin_setup_again").input("a-good-long-password")
    at.button(key=SET).click().run()
    assert "としてログイン中" in texts(at)
    at.button(key="admin_sign_out").click().run()

    at.text_input(key="admin_password").input("not-the-password")
    at.button(key=SIGN_IN).click().run()
    seen = texts(at)
    assert "パスワードが違います。" in seen and "セットアップコード" not in seen and "権限がありません" not in seen
    at.segmented_control(key="lang").set_value("en").run()
    at.text_input(key="admin_password").input("still-not-it")
    at.button(key="FormSubmitter:admin_sign_in_form-Sign in").click().run()
    assert "Wrong password." in texts(at)
