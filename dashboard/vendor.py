"""Third-party browser assets: pinned npm tarballs, integrity-checked, never in git.

`python -m dashboard.vendor` (run by `make setup`) downloads each pinned
package from the npm registry, checks the tarball against the sha512
`integrity` the registry publishes for that exact version (pinned here, so a
changed tarball is refused), and extracts only the built files the dashboard
serves into `dashboard/static/vendor/<name>/` (git-ignored). No Node is
needed: the tarball is a plain .tgz. Re-running is a no-op once the files are
there and match the pinned version.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
REGISTRY = os.environ.get("QBR_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")

#: name -> (version, sha512 integrity, {path in tarball: file name served})
PACKAGES: dict[str, tuple[str, str, dict[str, str]]] = {
    "uplot": (
        "1.6.32",
        "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
        {
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
            "package/LICENSE": "LICENSE",
        },
    ),
}


class VendorError(RuntimeError):
    pass


def _stamp(name: str) -> Path:
    return VENDOR_DIR / name / ".version"


def installed(name: str) -> bool:
    version, _, files = PACKAGES[name]
    stamp = _stamp(name)
    return (
        stamp.is_file()
        and stamp.read_text().strip() == version
        and all((VENDOR_DIR / name / f).is_file() for f in files.values())
    )


def verify(data: bytes, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        raise VendorError(f"unsupported integrity algorithm {algo!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise VendorError(f"integrity mismatch: expected sha512-{expected}, got sha512-{actual}")


def extract(name: str, data: bytes) -> None:
    version, _, files = PACKAGES[name]
    target = VENDOR_DIR / name
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, out in files.items():
            try:
                f = tar.extractfile(member)
            except KeyError:
                f = None
            if f is None:
                raise VendorError(f"{name}@{version}: {member} missing from the tarball")
            (target / out).write_bytes(f.read())
    _stamp(name).write_text(version + "\n")


def fetch(name: str) -> None:
    version, integrity, _ = PACKAGES[name]
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    except OSError as exc:
        raise VendorError(f"cannot download {url}: {exc}") from exc
    verify(data, integrity)
    extract(name, data)


def main() -> int:
    for name, (version, _, _) in PACKAGES.items():
        if installed(name):
            continue
        try:
            fetch(name)
        except VendorError as exc:
            print(f"dashboard vendor {name}@{version}: {exc}", file=sys.stderr)
            return 1
        print(f"dashboard vendor: {name}@{version} installed into {VENDOR_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
