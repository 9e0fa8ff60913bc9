"""A plain `qbr ...` prints qbr's own messages only; library warnings go to the log file.

dlt logs through its own non-propagating `dlt` logger (created lazily by dlt with
a stderr handler when it has none) and libraries raise Python warnings; both used
to land on the terminal of every `qbr refresh`. `-v` shows them again.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbr import logs
from qbr.app import cli


@pytest.fixture
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    dlt_logger = logging.getLogger("dlt")
    dlt_saved = (dlt_logger.handlers[:], dlt_logger.level, dlt_logger.propagate)
    yield
    logging.captureWarnings(False)
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in dlt_logger.handlers[:]:
        dlt_logger.removeHandler(handler)
    root.handlers[:], root.level = saved[0], saved[1]
    dlt_logger.handlers[:], dlt_logger.level, dlt_logger.propagate = dlt_saved


def _chatter() -> None:
    """What a refresh produces: dlt (re)creating its logger and warning, a library's
    Python warning, and qbr's own progress."""
    from dlt.common import logger as dlt_logger

    dlt_format = "{asctime}|[{levelname}]|{process}|{thread}|{name}|{filename}|{message}"
    dlt = dlt_logger._create_logger("dlt", "WARNING", dlt_format, "qbr_connectwise", {})
    dlt.warning("the storage schema hash ABC is different from extract package schema hash")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # catch_warnings restored showwarning: capture again. An earlier test may have left
        # logging's capture switched on (then True alone is a no-op), so switch it off first.
        logging.captureWarnings(False)
        logging.captureWarnings(True)
        warnings.warn("XDG_RUNTIME_DIR is not set", UserWarning, stacklevel=1)
    logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=3))")
    logging.getLogger("qbr.refresh").info("refresh bc_1: connectwise succeeded")


def test_plain_command_prints_only_qbr_messages(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], clean_logging: None
):
    path = logs.setup(verbose=False, home=tmp_path)
    assert path == tmp_path / "logs" / "qbr.log"
    _chatter()
    err = capfd.readouterr().err
    assert "connectwise succeeded" in err
    assert "schema hash" not in err and "XDG_RUNTIME_DIR" not in err and "Retrying" not in err
    logged = path.read_text()
    assert "schema hash ABC" in logged
    assert "XDG_RUNTIME_DIR is not set" in logged
    assert "Retrying" in logged
    assert "connectwise succeeded" in logged


def test_verbose_shows_library_warnings(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], clean_logging: None
):
    path = logs.setup(verbose=True, home=tmp_path)
    _chatter()
    err = capfd.readouterr().err
    for text in ("schema hash ABC", "XDG_RUNTIME_DIR is not set", "Retrying", "succeeded"):
        assert text in err, text
    assert "schema hash ABC" in path.read_text()


def test_the_cli_sets_it_up(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    clean_logging: None,
    monkeypatch: pytest.MonkeyPatch,
):
    """`qbr` (no -v) configures the quiet mode before running the command."""
    from qbr.settings import reset_settings_cache

    monkeypatch.setenv("QBR_HOME", str(tmp_path))
    reset_settings_cache()
    try:
        seen = {}

        def command(args):
            _chatter()
            seen["ran"] = True
            return 0

        parser = cli.build_parser()
        monkeypatch.setattr(cli, "build_parser", lambda: parser)
        args = parser.parse_args(["runs"])
        monkeypatch.setattr(args, "func", command)
        monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
        assert cli.main([]) == 0
    finally:
        reset_settings_cache()
    assert seen == {"ran": True}
    err = capfd.readouterr().err
    assert "succeeded" in err and "schema hash" not in err
    assert "schema hash ABC" in (tmp_path / "logs" / "qbr.log").read_text()
