"""Data checks inside the flows: the pre-flight refuses bad data, the audit is published."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from prefect.artifacts import Artifact

from flows.trading_session import trading_session
from tests.flows.helpers import artifact_of, run_id
from tradeguard import bootstrap

DAY = datetime(2022, 1, 21, tzinfo=UTC)


def gapped_copy(data_dir: Path, target: Path) -> Path:
    """Write the first 400 FTX bars with a 30-minute hole (a gap the pre-flight must refuse)."""
    with gzip.open(data_dir / "btc-perp_ftx_1m.csv.gz", "rt", encoding="utf-8") as handle:
        lines = [handle.readline() for _ in range(400)]
    del lines[100:130]
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.write("".join(lines))
    return target


def docs_link(state: object, key: str) -> Path:
    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact {key!r}"
    assert artifact.flow_run_id == run_id(state)  # type: ignore[arg-type]
    data = str(artifact.data)
    link = data[data.index("(") + 1 : data.rindex(")")] if data.startswith("[") else data
    return Path(unquote(urlparse(link).path))


def test_session_on_gapped_data_is_refused_before_trading_with_the_report(
    data_dir: Path, tmp_path: Path
) -> None:
    broken = gapped_copy(data_dir, tmp_path / "btc-perp_gap_1m.csv.gz")
    state_dir = tmp_path / "state"

    state = trading_session(data=[str(broken)], state_dir=str(state_dir), return_state=True)

    assert state.is_failed()
    assert "gap_within_threshold" in (state.message or "")
    assert not bootstrap.store_path(state_dir).exists(), "no session ran on bad data"
    report = artifact_of(state, "data-preflight")
    assert "FAIL `gap_within_threshold`" in report and "1860" in report
    index = docs_link(state, "data-preflight-docs")
    assert index.is_file() and index.is_relative_to(state_dir / "data_docs")


def test_session_publishes_a_passing_audit_with_its_data_docs(
    data_dir: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    state = trading_session(
        data=[str(data_dir / "btc-perp_ftx_1m.csv.gz")],
        start=DAY,
        duration_minutes=6 * 60,
        state_dir=str(state_dir),
        return_state=True,
    )

    assert state.is_completed(), state.message
    summary = state.result()["summary"]
    assert summary["journal_audit"].startswith("journal_audit passed")
    assert summary["data_checks"].startswith("market_data passed")
    rows = json.loads(artifact_of(state, "journal-audit-table"))
    names = {row["expectation"] for row in rows}
    assert {"fill_has_intent", "breaker_deescalation_one_level"} <= names
    assert all(row["result"] == "pass" for row in rows)
    index = docs_link(state, "journal-audit-docs")
    assert index.is_file() and index.is_relative_to(state_dir / "data_docs")
    assert "journal_audit passed" in index.read_text(encoding="utf-8")
