"""The shared real market data: where it lives, what it must contain, and a checksum verifier.

The data is never copied into the repository. It sits in `shared/data` beside the clone
(`<clone>/../shared/data`), or wherever `TRADEGUARD_DATA_DIR` points. See docs/data.md for the
upstream sources; the checksums below are those of /work/shared/data/SOURCES.md.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import DataError
from engine.feed import COLUMNS
from tradeguard.marketdata import DATA_HOWTO

ENV_VAR = "TRADEGUARD_DATA_DIR"
DATA_SUFFIXES = (".csv.gz", ".csv", ".parquet")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """One known data file: name, sha256 of its bytes, data rows, upstream repository."""

    name: str
    sha256: str
    rows: int
    upstream: str


KNOWN_FILES: tuple[DataFile, ...] = (
    DataFile(
        "btc-perp_ftx_1m.csv.gz",
        "51585c59017bf9e03bdd346ec5389e6a1b355289a16af3cccea0d56d0f8f7155",
        45_031,
        "nautechsystems/nautilus_trader@a95c8042b00133829d252ae8cf68f78fc176a973",
    ),
    DataFile(
        "btc-usd_coinbase_1m.csv.gz",
        "843d6f60ac2fc005435d7cca4957ae5eee9f153baeb29246368a2c180ea06d3c",
        12_423,
        "QuantConnect/Lean@24863901deffa9ec7985e21ef8fbdb0258efb9e4",
    ),
    DataFile(
        "eth-usd_coinbase_1m.csv.gz",
        "33363d4d27754c7db29649e94fac61e570a6713f620a1936ec378b64828e9761",
        5_329,
        "QuantConnect/Lean@24863901deffa9ec7985e21ef8fbdb0258efb9e4",
    ),
    DataFile(
        "ltc-usd_coinbase_1m.csv.gz",
        "70fb77ad26a01471267dbabd1d0cbf72fbebf1f152ffbc3e8358d0d05cc00dc1",
        3_887,
        "QuantConnect/Lean@24863901deffa9ec7985e21ef8fbdb0258efb9e4",
    ),
    DataFile(
        "btc-eur_coinbase_1m.csv.gz",
        "874b904668e2e7b2d81d74601680887dfebaf33d6acd60766ba849bc53183a32",
        3_663,
        "QuantConnect/Lean@24863901deffa9ec7985e21ef8fbdb0258efb9e4",
    ),
    DataFile(
        "spx-index_1m.csv.gz",
        "50def1556ed171206228dd22789bea3c3079bb13843501b0470a7c69413084d8",
        1_563,
        "matplotlib/mplfinance@493811dac9a203de7ec148fb95504e7d3f400ba5",
    ),
)
COMPANIONS = ("SOURCES.md", "licenses")


def default_repo_root() -> Path:
    """Return the root of this clone (the directory holding tradeguard/)."""
    return Path(__file__).resolve().parents[1]


def find_data_dir(repo_root: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Return the data directory: $TRADEGUARD_DATA_DIR, else ../shared/data beside the clone."""
    env = os.environ if environ is None else environ
    configured = env.get(ENV_VAR, "").strip()
    if configured:
        candidate = Path(configured).expanduser()
        if not candidate.is_dir():
            message = f"{ENV_VAR}={configured} is not a directory; {DATA_HOWTO}"
            raise DataError(message)
        return candidate.resolve()
    root = default_repo_root() if repo_root is None else Path(repo_root)
    candidate = (root / ".." / "shared" / "data").resolve()
    if not candidate.is_dir():
        message = (
            f"market data directory not found at {candidate} (set {ENV_VAR} to override); "
            f"{DATA_HOWTO}"
        )
        raise DataError(message)
    return candidate


def resolve_data_dir(configured: Path | None) -> Path:
    """Return the data directory: the configured one (replay.data_dir), else find_data_dir()."""
    return configured if configured is not None else find_data_dir()


def resolve_data_dir_or_none(configured: Path | None) -> Path | None:
    """Return the data directory, or None when there is none (only bare file names need it)."""
    try:
        return resolve_data_dir(configured)
    except DataError:
        return None


def symbol_of(path: Path) -> str:
    """Return the symbol a data file name implies: btc-perp_ftx_1m.csv.gz -> BTC-PERP."""
    name = path.name
    for suffix in DATA_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.split("_", 1)[0].upper()


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _header_problem(path: Path) -> str | None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            header = handle.readline().strip()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        return f"{path.name}: not a readable gzip CSV ({e})"
    expected = ",".join(COLUMNS)
    if header != expected:
        return f"{path.name}: header is {header!r}, expected {expected!r}"
    return None


def verify(directory: Path) -> list[str]:
    """Check every known file's presence, sha256 and header; return problems (empty = good)."""
    base = Path(directory)
    if not base.is_dir():
        return [f"{base}: not a directory; {DATA_HOWTO}"]
    problems: list[str] = []
    for known in KNOWN_FILES:
        path = base / known.name
        if not path.is_file():
            problems.append(f"{known.name}: missing (upstream {known.upstream}); {DATA_HOWTO}")
            continue
        actual = sha256_of(path)
        if actual != known.sha256:
            problems.append(
                f"{known.name}: sha256 {actual} does not match the published {known.sha256}"
            )
        header = _header_problem(path)
        if header is not None:
            problems.append(header)
    for companion in COMPANIONS:
        if not (base / companion).exists():
            problems.append(f"{companion}: missing (keep it next to the data, see docs/data.md)")
    return problems
