"""The Data Docs of a check run render in headless Chromium (screenshots in test-artifacts/)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from checks.market_data import BarSource, MarketDataParams, preflight

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


def screenshot(page: Path, target: Path, profile: Path) -> Path:
    """Save a headless-Chromium screenshot of a local HTML page."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium missing: install it (apt-get install -y chromium)")
    target.unlink(missing_ok=True)
    args = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,1000",
        "--virtual-time-budget=5000", f"--screenshot={target}", page.resolve().as_uri(),
    ]
    subprocess.run(args, check=True, timeout=120, capture_output=True)
    return target


def distinct_colours(png: Path) -> int:
    """Count the distinct pixel colours of a PNG (a blank page has one or two)."""
    from matplotlib import image

    pixels = image.imread(str(png))
    flat = pixels.reshape(-1, pixels.shape[-1])
    return len({tuple(p) for p in flat[:: max(1, len(flat) // 50_000)]})


def test_data_docs_of_a_failed_preflight_render_in_chromium(data_dir: Path, tmp_path: Path) -> None:
    with gzip.open(data_dir / "btc-perp_ftx_1m.csv.gz", "rt", encoding="utf-8") as handle:
        lines = [handle.readline() for _ in range(400)]
    del lines[100:130]  # a 30-minute hole
    broken = tmp_path / "btc-perp_gap_1m.csv.gz"
    with gzip.open(broken, "wt", encoding="utf-8") as handle:
        handle.write("".join(lines))
    docs = tmp_path / "data_docs"

    report = preflight([BarSource(broken, "BTC-PERP")], MarketDataParams(), docs_dir=docs)

    assert report.failed_names() == {"gap_within_threshold"}
    assert report.docs_index == docs / "index.html"
    (result_page,) = (docs / "validations").rglob("*.html")
    assert "gap_seconds" in result_page.read_text(encoding="utf-8")
    index = (docs / "index.html").read_text(encoding="utf-8")
    # readable offline: the verdict and a link to the result page are static HTML
    assert "FAIL <code>gap_within_threshold</code>" in index
    assert quote(result_page.relative_to(docs).as_posix()) in index
    ARTIFACTS.mkdir(exist_ok=True)
    index_png = screenshot(docs / "index.html", ARTIFACTS / "gx-data-docs-index.png",
                           tmp_path / "chromium-index")
    result_png = screenshot(result_page, ARTIFACTS / "gx-data-docs-result.png",
                            tmp_path / "chromium-result")
    for png in (index_png, result_png):
        assert png.stat().st_size > 10_000
        assert distinct_colours(png) > 20, f"{png} looks blank"


def test_data_docs_of_a_failed_journal_audit_render_in_chromium(
    data_dir: Path, tmp_path: Path
) -> None:
    import sqlite3
    from datetime import UTC, datetime

    from checks.audit import audit
    from checks.journal_suite import JournalParams
    from tradeguard import bootstrap, services
    from tradeguard.requests import DataSpec, ReplayRequest
    from tradeguard.settings import load_settings

    plan = tmp_path / "faults.toml"
    plan.write_text('[[fault]]\nstart = "2022-01-21T09:13:00Z"\nend = "2022-01-21T09:23:00Z"\n'
                    "reject_rate = 1.0\n")
    settings = load_settings(
        store={"state_dir": tmp_path / "state"},
        strategy={"pairs": [(2, 5), (3, 7), (4, 9), (5, 11)], "confidence_scale_pct": 0.0001},
    )
    services.run_session(bootstrap.bootstrap(settings), ReplayRequest(
        data=(DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
        start=datetime(2022, 1, 21, 9, tzinfo=UTC), end=datetime(2022, 1, 21, 10, tzinfo=UTC),
        faults=plan, seed=11))
    store = bootstrap.store_path(tmp_path / "state")
    with sqlite3.connect(store) as conn:  # HALT -> CLOSED by cooldown: HALF_OPEN skipped
        halt = conn.execute("SELECT id FROM breaker_events WHERE from_state = 'HALT'").fetchone()
        conn.execute("DELETE FROM breaker_events WHERE id = ?", (halt[0] + 1,))
        conn.execute("UPDATE breaker_events SET to_state = 'CLOSED' WHERE id = ?", halt)
    conn.close()
    docs = tmp_path / "audit_docs"

    report = audit(store, JournalParams.from_risk(settings.risk), docs_dir=docs)

    assert report.failed_names() == {"breaker_deescalation_one_level"}
    assert "FAIL <code>breaker_deescalation_one_level</code>" in (docs / "index.html").read_text(
        encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    png = screenshot(docs / "index.html", ARTIFACTS / "gx-audit-docs-index.png",
                     tmp_path / "chromium")
    assert png.stat().st_size > 10_000 and distinct_colours(png) > 20
