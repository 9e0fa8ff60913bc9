"""The chart library comes from a pinned npm tarball, checked against its sha512 integrity."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile

import pytest

from dashboard import vendor


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_integrity_is_checked_before_anything_is_extracted():
    data = b"tarball bytes"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    vendor.verify(data, good)
    with pytest.raises(vendor.VendorError, match="integrity mismatch"):
        vendor.verify(data + b"!", good)
    with pytest.raises(vendor.VendorError, match="unsupported"):
        vendor.verify(data, "sha1-abc")


def test_extract_writes_only_the_listed_files(tmp_path, monkeypatch):
    monkeypatch.setattr(vendor, "VENDOR_DIR", tmp_path)
    monkeypatch.setitem(
        vendor.PACKAGES,
        "demo",
        ("1.0.0", "", {"package/dist/a.js": "a.js", "package/LICENSE": "LICENSE"}),
    )
    vendor.extract(
        "demo",
        _tgz({"package/dist/a.js": b"js", "package/LICENSE": b"MIT", "package/evil.sh": b"x"}),
    )
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [".version", "LICENSE", "a.js"]
    assert vendor.installed("demo")
    with pytest.raises(vendor.VendorError, match="missing"):
        vendor.extract("demo", _tgz({"package/LICENSE": b"MIT"}))


def test_the_pinned_chart_library_is_installed():
    """`make setup` fetched it: the dashboard's charts depend on it."""
    assert vendor.installed("uplot"), "run `make setup` (python -m dashboard.vendor)"
