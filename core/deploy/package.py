"""The Lambda code zip: ``lambda_src/`` and ``core/`` (Python sources only), plus the
third-party packages the handlers import, installed for Lambda's platform by pip.

The zip is byte-for-byte reproducible (sorted entries, fixed timestamps), so its SHA-256
names it in the artifacts bucket and an unchanged build is neither uploaded nor redeployed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_REQUIREMENTS = ROOT / "deploy" / "lambda-requirements.txt"
CODE_DIRS = ("core", "lambda_src")
# Lambda runtime of deploy/template.yaml (python3.12 on x86_64).
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", ".pytest_cache", "tests"}


def _files(base: Path, top: str) -> list[tuple[str, Path]]:
    out = []
    for path in sorted((base / top).rglob("*")):
        if path.is_file() and not _SKIP_PARTS & set(path.parts) and path.suffix not in (".pyc", ".pyo"):
            out.append((path.relative_to(base).as_posix(), path))
    return out


def vendor_requirements(requirements: Path, target: Path) -> None:
    """pip-install ``requirements`` for Lambda's platform into ``target`` (binary wheels only,
    so nothing is compiled for this machine by mistake). Raises ConfigError when pip fails."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        PLATFORM,
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "-r",
        str(requirements),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"could not install the Lambda dependencies ({requirements}):\n{done.stderr[-2000:]}")


def build_lambda_zip(
    out_dir: Path, root: Path = ROOT, requirements: Path | None = LAMBDA_REQUIREMENTS, vendor=vendor_requirements
) -> tuple[Path, str]:
    """Write the code zip into ``out_dir``; return ``(path, sha256 hex)``.
    ``requirements=None`` packs only FaceGate's own code."""
    entries = [entry for top in CODE_DIRS for entry in _files(root, top)]
    if not any(name.startswith("lambda_src/") and name.endswith(".py") for name, _ in entries):
        raise ConfigError(f"no Lambda handlers found in {root / 'lambda_src'}")
    with tempfile.TemporaryDirectory(prefix="facegate-vendor-") as tmp:
        if requirements is not None and Path(requirements).is_file():
            vendor(Path(requirements), Path(tmp))
            own = {name for name, _ in entries}
            entries += [(n, p) for n, p in _files(Path(tmp), ".") if n not in own]
            entries = [(n.removeprefix("./"), p) for n, p in entries]
        entries.sort()
        out = Path(out_dir) / "lambda.zip"
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for name, path in entries:
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16  # readable by Lambda's sandbox user
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return out, hashlib.sha256(out.read_bytes()).hexdigest()
