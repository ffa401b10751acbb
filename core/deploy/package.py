"""The Lambda code zip: ``lambda_src/`` and ``core/``, their bytecode compiled for Lambda's
Python, and the third-party packages ``deploy/lambda-requirements.txt`` names (none today:
the handlers import only the standard library and the runtime's boto3 — a test imports the
real zip's handlers in a clean Python 3.12 with nothing else on its path and invokes them).

The zip is byte-for-byte reproducible (sorted entries, fixed timestamps, hash-based .pyc), so
an unchanged build is neither uploaded nor redeployed.

Bytecode: Lambda's ``/var/task`` is read-only, so without .pyc files in the zip Python compiles
every imported module from source on every cold start. The .pyc files are compiled by a Python
of the runtime's version (``python3.12``; ``FACEGATE_LAMBDA_PYTHON`` names another) as
``unchecked-hash`` pycs: valid whatever the files' timestamps, never re-checked against the
source (the code in a deployed function cannot change). Without such a Python the zip carries
sources only and says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_REQUIREMENTS = ROOT / "deploy" / "lambda-requirements.txt"
CODE_DIRS = ("core", "lambda_src")
# Lambda runtime of deploy/template.yaml: python3.12 on x86_64, Amazon Linux 2023 (glibc 2.34).
PYTHON_VERSION = "3.12"
GLIBC_MINOR = 34
# Every manylinux tag the runtime's glibc accepts, newest first. pip does not expand a
# ``manylinux_2_34`` platform to the older ones itself, and ``manylinux2014`` alone (glibc 2.17)
# silently picks old releases: numpy 2.2 when 2.5 exists, because newer numpy, pandas and
# Pillow publish only manylinux_2_27/2_28 wheels.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", ".pytest_cache", "tests"}


@dataclass(frozen=True)
class LambdaZip:
    path: Path
    sha256: str
    bytecode: str  # the Python that compiled the .pyc files ("" = sources only)
    vendored: list[str]  # top-level entries pip installed


def _files(base: Path, top: str) -> list[tuple[str, Path]]:
    out = []
    for path in sorted((base / top).rglob("*")):
        if path.is_file() and not _SKIP_PARTS & set(path.parts) and path.suffix not in (".pyc", ".pyo"):
            out.append((path.relative_to(base).as_posix(), path))
    return out


def requirement_lines(requirements: Path) -> list[str]:
    """The requirement lines of ``requirements`` (comments and blanks dropped)."""
    if not Path(requirements).is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in Path(requirements).read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def target_arguments() -> list[str]:
    """pip's options that choose wheels for Lambda's runtime rather than for this machine."""
    out = []
    for platform in PLATFORMS:
        out += ["--platform", platform]
    return out + ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--only-binary=:all:"]


def pip_command(requirements: Path, target: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target)]
    return cmd + target_arguments() + ["-r", str(requirements)]


def vendor_requirements(requirements: Path, target: Path) -> None:
    """pip-install ``requirements`` for Lambda's platform into ``target`` (binary wheels only,
    so nothing is compiled for this machine by mistake). Raises ConfigError when pip fails."""
    done = subprocess.run(pip_command(requirements, target), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"could not install the Lambda dependencies ({requirements}):\n{done.stderr[-2000:]}")


def _python_version(python: str) -> str:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def runtime_python(env: Mapping[str, str] | None = None) -> str | None:
    """A working Python of the runtime's version to compile bytecode with, or None
    (``FACEGATE_LAMBDA_PYTHON=none``: ship sources only). Looks at FACEGATE_LAMBDA_PYTHON,
    this interpreter, ``python3.12`` on PATH and pyenv's versions; a shim that does not run
    (pyenv without that version selected) does not count."""
    env = os.environ if env is None else env
    given = env.get("FACEGATE_LAMBDA_PYTHON", "").strip()
    if given:
        return None if given.lower() == "none" else given
    candidates = [sys.executable, shutil.which(f"python{PYTHON_VERSION}") or ""]
    pyenv_root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [
        str(p) for p in sorted((pyenv_root / "versions").glob(f"{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}"))
    ]
    for candidate in candidates:
        if candidate and _python_version(candidate) == PYTHON_VERSION:
            return candidate
    return None


def compile_bytecode(tree: Path, python: str) -> None:
    """Write ``__pycache__/*.cpython-312.pyc`` (unchecked-hash) beside every .py in ``tree``
    with ``python``. Raises ConfigError when it is not the runtime's version or fails."""
    if _python_version(python) != PYTHON_VERSION:
        raise ConfigError(f"{python} is not Python {PYTHON_VERSION} (Lambda's runtime): cannot compile its bytecode")
    done = subprocess.run(
        # Recorded file names are Lambda's (/var/task/...), not this build's temporary folder:
        # tracebacks then name real paths and two builds of the same code are byte-identical.
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        + ["-s", str(tree), "-p", "/var/task", str(tree)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(f"compiling the Lambda code failed:\n{(done.stdout + done.stderr)[-2000:]}")


def build_lambda_zip(
    out_dir: Path,
    root: Path = ROOT,
    requirements: Path | None = LAMBDA_REQUIREMENTS,
    vendor=vendor_requirements,
    python: str | None | bool = True,
) -> LambdaZip:
    """Write the code zip into ``out_dir``. ``requirements=None`` packs only FaceGate's code;
    ``python`` is the interpreter that compiles the bytecode (True: ``runtime_python()``,
    None/False: sources only). Raises ConfigError."""
    if not any((root / "lambda_src").glob("*.py")):
        raise ConfigError(f"no Lambda handlers found in {root / 'lambda_src'}")
    python = runtime_python() if python is True else (python or None)
    with tempfile.TemporaryDirectory(prefix="facegate-lambda-build-") as tmp:
        tree = Path(tmp) / "tree"
        for top in CODE_DIRS:
            for name, path in _files(root, top):
                dest = tree / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
        vendored: list[str] = []
        if requirements is not None and requirement_lines(requirements):
            target = Path(tmp) / "vendor"
            target.mkdir()
            vendor(Path(requirements), target)
            for entry in sorted(target.iterdir()):
                if not (tree / entry.name).exists():  # our own code wins
                    shutil.move(str(entry), tree / entry.name)
                    vendored.append(entry.name)
        if python:
            compile_bytecode(tree, python)
        entries = sorted(
            (p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file() and p.suffix != ".pyo"
        )
        out = Path(out_dir) / "lambda.zip"
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for name, path in entries:
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16  # readable by Lambda's sandbox user
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return LambdaZip(out, hashlib.sha256(out.read_bytes()).hexdigest(), python or "", vendored)
