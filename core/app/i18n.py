"""Japanese and English UI text.

Each page (or core module with user-facing messages) registers its strings once:
``register({"camera.title": ("カメラ", "Camera")})`` and looks them up with
``t("camera.title", lang)``. Missing keys show the key itself, so a gap is visible, not
silent. ``error_message`` turns a domain error into a sentence with what to do next.
"""

from __future__ import annotations

from core.errors import FaceGateError, NoFaceInImage

LANGUAGES = ("ja", "en")
_STRINGS: dict[str, tuple[str, str]] = {}


def register(strings: dict[str, tuple[str, str]]) -> None:
    """Add (ja, en) pairs; registering the same key again with other text is an error."""
    for key, pair in strings.items():
        if len(pair) != 2:
            raise ValueError(f"{key}: give (ja, en)")
        old = _STRINGS.get(key)
        if old is not None and old != tuple(pair):
            raise ValueError(f"i18n key {key!r} registered twice with different text")
        _STRINGS[key] = (pair[0], pair[1])


def t(key: str, lang: str = "ja", **values) -> str:
    pair = _STRINGS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "ja" else pair[1]
    return text.format(**values) if values else text


def pick_language(setting: str, accept_language: str | None) -> str:
    """``setting`` is auto/ja/en; auto prefers Japanese when the browser lists it first
    among ja/en, else English."""
    if setting in LANGUAGES:
        return setting
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("ja"):
            return "ja"
        if code.startswith("en"):
            return "en"
    return "ja" if not accept_language else "en"


register(
    {
        "error.InvalidImageFormatException": (
            "画像を読み込めませんでした。JPEG か PNG の写真を使ってください。",
            "The image could not be read. Use a JPEG or PNG photo.",
        ),
        "error.ImageTooLargeException": (
            "画像が大きすぎます（上限 5 MB）。小さい写真で試してください。",
            "The image is too large (limit 5 MB). Try a smaller photo.",
        ),
        "error.NoFace": (
            "顔が見つかりませんでした。カメラに近づき、明るい場所で撮り直してください。",
            "No face was found. Move closer to the camera, add light, and try again.",
        ),
        "error.InvalidParameterException": ("入力が正しくありません: {message}", "Invalid input: {message}"),
        "error.ResourceNotFoundException": ("見つかりません: {message}", "Not found: {message}"),
        "error.ResourceAlreadyExistsException": ("既に存在します: {message}", "Already exists: {message}"),
        "error.AccessDeniedException": (
            "権限がありません。管理者としてログインしてください。",
            "Not allowed. Sign in as an administrator.",
        ),
        "error.ThrottlingException": (
            "混み合っています。少し待ってから再試行してください。",
            "Too many requests. Wait a moment and try again.",
        ),
        "error.ServiceUnavailableException": (
            "サービスに接続できません: {message}",
            "A service cannot be reached: {message}",
        ),
        "error.ConfigError": ("設定に誤りがあります: {message}", "Configuration problem: {message}"),
        "error.FaceGateError": ("エラー: {message}", "Error: {message}"),
    }
)


def error_message(exc, lang: str = "ja") -> str:
    """A user-facing sentence for a domain error (with what to do next)."""

    if isinstance(exc, NoFaceInImage):
        return t("error.NoFace", lang)
    if isinstance(exc, FaceGateError):
        key = f"error.{exc.code}"
        if key in _STRINGS:
            return t(key, lang, message=exc.message)
        return t("error.FaceGateError", lang, message=exc.message)
    return t("error.FaceGateError", lang, message=type(exc).__name__)
