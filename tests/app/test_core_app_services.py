"""Core services behind the app on the real local world: names and keys, the LAN certificate
and QR code, the start-up warm-up. (Use-case orchestration runs on fakes: tests/usecases.)"""

from __future__ import annotations

import re


def test_certificate_and_qr(tmp_path):
    from cryptography import x509

    from core.app.lan import ensure_certificate, lan_ip, qr_png

    cert, key = ensure_certificate(tmp_path)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    san = (
        x509.load_pem_x509_certificate(cert.read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert {"127.0.0.1", lan_ip()} <= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    first = cert.read_bytes()
    assert ensure_certificate(tmp_path)[0].read_bytes() == first  # reused, not regenerated
    assert qr_png("https://192.0.2.1:8501/").startswith(b"\x89PNG")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", lan_ip())


def test_warm_up_builds_what_the_first_page_then_uses(settings, monkeypatch):
    """``python -m core app run`` warms up beside the server's start: the services a page then
    gets are the same object, face models loaded, the analytics copy loaded."""
    import threading

    import core.bootstrap
    from core.usecases.warmup import warm_up
    from pages import _shared

    built = []
    real = core.bootstrap.build_services
    monkeypatch.setattr(core.bootstrap, "build_services", lambda s: built.append(s) or real(s))
    monkeypatch.setattr(_shared, "get_settings", lambda: settings)
    core.bootstrap.close_shared_services()
    try:
        warmed = warm_up(settings)
        for thread in threading.enumerate():
            if thread.name == "facegate-columnar-warm":
                thread.join(timeout=60)
        services = _shared.get_services()
        assert len(built) == 1 and services is warmed is _shared.get_services()
        assert services.faces._engine is not None
        assert services.events._columnar is not None
    finally:
        core.bootstrap.close_shared_services()
