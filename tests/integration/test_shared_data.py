"""Locating and verifying the shared market data folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from engine.errors import DataError
from tradeguard.data import ENV_VAR, KNOWN_FILES, find_data_dir, sha256_of, verify

REPO = Path(__file__).resolve().parents[2]
DATA = (REPO / ".." / "shared" / "data").resolve()

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no shared data at {DATA}")


@needs_data
def test_default_location_is_shared_data_beside_the_clone() -> None:
    assert find_data_dir(REPO, environ={}) == DATA


@needs_data
def test_shared_data_matches_every_published_checksum() -> None:
    assert verify(DATA) == []


def test_environment_variable_overrides_the_default(tmp_path: Path) -> None:
    assert find_data_dir(tmp_path / "nowhere", environ={ENV_VAR: str(tmp_path)}) == tmp_path


def test_missing_data_dir_explains_how_to_obtain_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        find_data_dir(tmp_path / "clone", environ={})

    message = str(raised.value)
    assert str((tmp_path / "shared" / "data").resolve()) in message
    assert "docs/data.md" in message and ENV_VAR in message


def test_environment_variable_pointing_nowhere_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=ENV_VAR):
        find_data_dir(REPO, environ={ENV_VAR: str(tmp_path / "missing")})


@needs_data
def test_verify_reports_missing_tampered_and_malformed_files(tmp_path: Path) -> None:
    ftx, coinbase, *_ = KNOWN_FILES
    tampered = bytearray((DATA / ftx.name).read_bytes())
    tampered[1000] ^= 0xFF
    (tmp_path / ftx.name).write_bytes(bytes(tampered))
    (tmp_path / coinbase.name).write_bytes(gzip.compress(b"time,o,h,l,c,v\n"))
    (tmp_path / "SOURCES.md").write_text("x", encoding="utf-8")

    problems = verify(tmp_path)

    assert any(p.startswith(f"{ftx.name}: sha256 ") for p in problems)
    assert any(p.startswith(f"{coinbase.name}: header is 'time,o,h,l,c,v'") for p in problems)
    missing = [p for p in problems if ": missing" in p]
    assert len(missing) == len(KNOWN_FILES) - 2 + 1  # the other data files and licenses/
    assert sha256_of(DATA / ftx.name) == ftx.sha256
