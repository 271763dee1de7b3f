"""The package's build backend (PEP 517 and PEP 660), in the standard library alone.

`pip install ./python` then needs nothing from a package index: no setuptools,
no wheel, no network (GPU machines often have none). The package is pure
Python, so a wheel is a zip of python/xsched plus its metadata, which this
module writes. The metadata comes from pyproject.toml's [project] table.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent  # python/
PACKAGE = "xsched"
# Fixed timestamps: the same sources give the same archives.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _project() -> Dict[str, str]:
    """The scalar keys of [project] in pyproject.toml (name, version, description, requires-python)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.S | re.M)
    if section is None:
        raise RuntimeError("pyproject.toml has no [project] table")
    return dict(re.findall(r'^([A-Za-z-]+)\s*=\s*"([^"]*)"\s*$', section.group(1), re.M))


def _names() -> Tuple[str, str]:
    p = _project()
    return p["name"], p["version"]


def _metadata() -> str:
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {p['version']}",
        f"Summary: {p.get('description', '')}",
        f"Requires-Python: {p.get('requires-python', '>=3.8')}",
        "Provides-Extra: torch",
        'Requires-Dist: torch; extra == "torch"',
        "Classifier: Programming Language :: Python :: 3",
        "Classifier: Operating System :: POSIX :: Linux",
        "Classifier: Typing :: Typed",
        "Description-Content-Type: text/markdown",
    ]
    readme = ROOT / "README.md"
    return "\n".join(lines) + "\n\n" + (readme.read_text() if readme.is_file() else "")


def _wheel_name() -> str:
    name, version = _names()
    return f"{name}-{version}-py3-none-any.whl"


def _dist_info() -> str:
    name, version = _names()
    return f"{name}-{version}.dist-info"


def _package_files() -> List[Tuple[str, bytes]]:
    out = []
    for path in sorted((ROOT / PACKAGE).iterdir()):
        if path.is_file() and (path.suffix == ".py" or path.name == "py.typed"):
            out.append((f"{PACKAGE}/{path.name}", path.read_bytes()))
    return out


def _dist_info_files() -> List[Tuple[str, bytes]]:
    wheel = "Wheel-Version: 1.0\nGenerator: xsched_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    return [(f"{_dist_info()}/METADATA", _metadata().encode()), (f"{_dist_info()}/WHEEL", wheel.encode())]


def _write_wheel(directory: str, files: List[Tuple[str, bytes]]) -> str:
    """A wheel of `files` plus the dist-info (its RECORD last, as the format asks)."""
    files = files + _dist_info_files()
    record = io.StringIO()
    for arcname, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.write(f"{arcname},sha256={digest},{len(data)}\n")
    record_name = f"{_dist_info()}/RECORD"
    record.write(f"{record_name},,\n")
    files.append((record_name, record.getvalue().encode()))
    path = Path(directory) / _wheel_name()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in files:
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path.name


# ---- PEP 517 ----

def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[dict] = None) -> str:
    target = Path(metadata_directory) / _dist_info()
    target.mkdir(parents=True, exist_ok=True)
    for arcname, data in _dist_info_files():
        (Path(metadata_directory) / arcname).write_bytes(data)
    return target.name


def build_wheel(wheel_directory: str, config_settings: Optional[dict] = None,
                metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, _package_files())


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    name, version = _names()
    base = f"{name}-{version}"
    members = [("pyproject.toml", (ROOT / "pyproject.toml").read_bytes()),
               ("README.md", (ROOT / "README.md").read_bytes()),
               ("_build/xsched_build.py", Path(__file__).read_bytes()),
               ("PKG-INFO", _metadata().encode())] + _package_files()
    path = Path(sdist_directory) / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for arcname, data in members:
            info = tarfile.TarInfo(f"{base}/{arcname}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return path.name


# ---- PEP 660: `pip install -e ./python` ----

def get_requires_for_build_editable(config_settings: Optional[dict] = None) -> List[str]:
    return []


def prepare_metadata_for_build_editable(metadata_directory: str, config_settings: Optional[dict] = None) -> str:
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_editable(wheel_directory: str, config_settings: Optional[dict] = None,
                   metadata_directory: Optional[str] = None) -> str:
    # A .pth file puts python/ on sys.path: edits in the tree take effect at once.
    return _write_wheel(wheel_directory, [(f"_{PACKAGE}_editable.pth", f"{ROOT}\n".encode())])
