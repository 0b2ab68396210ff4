"""Build tradeloop's packaged sample from the E-mini S&P 500 trades in mlfinpy 0.1.2.

    python scripts/make_sample_data.py [SOURCE] [--source-tz ZONE] [--out-dir DIR]

SOURCE is the ``tick_data.csv`` of mlfinpy 0.1.2 (inside an unpacked wheel, so that the
licence is found beside it, or with ``--license``), or the wheel itself. Without SOURCE the
wheel is fetched with ``pip download --no-deps mlfinpy==0.1.2`` into a temporary directory
(pip checks it against PyPI's hash); the package is never installed.

Output, in ``src/tradeloop/sample_data/`` by default:

* ``es_trades_2013-09.parquet``: ``ts_event`` (int64 ns UTC), ``price_raw`` (int64, the price
  times 10**9), ``size`` (int64 contracts), one row per source row in the source's order
  (many rows share a timestamp). zstd-compressed, timestamps delta-encoded.
* ``LICENSE-mlfinpy.txt``: the package's MIT notice, with where the data came from and what
  was changed.

Timestamps: the source writes naive wall-clock times. By default they are stored as written
(read as UTC). The session opens at 17:00 on Sunday, CME Globex's open in US Central time, so
``--source-tz America/Chicago`` gives the true UTC instants instead.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloop.data import SAMPLE_TRADES_FILE, load_trade_ticks, sample_instrument
from tradeloop.model import FIXED_SCALAR

PACKAGE = "mlfinpy"
VERSION = "0.1.2"
CSV_IN_WHEEL = "mlfinpy/dataset/data/tick_data.csv"
LICENSE_IN_WHEEL = f"mlfinpy-{VERSION}.dist-info/LICENSE"
CSV_SHA256 = "b65c9d481aab09af7c7290d898382e9231e6a4694d2685cb0858d248812d0b0e"
ROWS = 500_000
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "src" / "tradeloop" / "sample_data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(into: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(into),
    ]
    subprocess.run(cmd, check=True)
    wheels = sorted(into.glob(f"{PACKAGE}-{VERSION}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download produced no {PACKAGE} {VERSION} wheel in {into}")
    return wheels[0]


def _from_wheel(wheel: Path, into: Path) -> tuple[Path, Path]:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for needed in (CSV_IN_WHEEL, LICENSE_IN_WHEEL):
            if needed not in names:
                raise SystemExit(f"{wheel}: has no {needed}; is it {PACKAGE} {VERSION}?")
        zf.extract(CSV_IN_WHEEL, into)
        zf.extract(LICENSE_IN_WHEEL, into)
    return into / CSV_IN_WHEEL, into / LICENSE_IN_WHEEL


def _find_license(csv: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    # In an unpacked wheel the CSV is <root>/mlfinpy/dataset/data/tick_data.csv.
    candidate = csv.resolve().parents[3] / LICENSE_IN_WHEEL
    if candidate.exists():
        return candidate
    raise SystemExit(f"cannot find {LICENSE_IN_WHEEL} near {csv}; pass --license")


def _license_text(license_path: Path, source_tz: str) -> str:
    notice = license_path.read_text(encoding="utf-8").strip()
    if "MIT License" not in notice:
        raise SystemExit(f"{license_path}: not the expected MIT licence")
    stored = (
        "stored as written (naive wall-clock times read as UTC; most likely US Central time)"
        if source_tz.upper() == "UTC"
        else f"converted from {source_tz} wall-clock time to UTC"
    )
    header = (
        f"{SAMPLE_TRADES_FILE} is derived from {CSV_IN_WHEEL} in the {PACKAGE} {VERSION} "
        f"wheel on PyPI\n(https://pypi.org/project/{PACKAGE}/{VERSION}/), E-mini S&P 500 futures "
        f"trades of 2013-09-01 to 2013-09-03, {ROWS:,} rows.\n"
        f"Changes: converted from CSV (DateTime,Price,Volume) to Parquet with columns ts_event "
        f"(int64 ns), price_raw (price x 10**9)\nand size (contracts), rows kept in the source's "
        f"order; timestamps {stored}.\n"
        f"The data is used under the licence of {PACKAGE}, reproduced below.\n\n"
    )
    return header + notice + "\n"


def build(csv: Path, license_path: Path, out_dir: Path, source_tz: str) -> Path:
    """Convert ``csv`` and write the Parquet file and the licence into ``out_dir``."""
    digest = _sha256(csv)
    if digest != CSV_SHA256:
        raise SystemExit(f"{csv}: sha256 {digest} is not that of {PACKAGE} {VERSION}'s tick_data.csv")
    instrument = sample_instrument()
    result = load_trade_ticks(csv, instrument, tz=source_tz)
    ticks = result.data
    if len(ticks) != ROWS:
        raise SystemExit(f"{csv}: expected {ROWS} rows, loaded {len(ticks)}")
    ts = np.fromiter((t.ts_event for t in ticks), np.int64, len(ticks))
    price_raw = np.fromiter((t.price.raw for t in ticks), np.int64, len(ticks))
    size = np.fromiter((t.size.raw // FIXED_SCALAR for t in ticks), np.int64, len(ticks))
    schema = pa.schema(
        [("ts_event", pa.int64()), ("price_raw", pa.int64()), ("size", pa.int64())],
        metadata={
            "tradeloop.instrument": str(instrument.id),
            "tradeloop.price_raw_scale": str(FIXED_SCALAR),
            "tradeloop.source": f"{PACKAGE}=={VERSION}:{CSV_IN_WHEEL} sha256={CSV_SHA256}",
            "tradeloop.source_tz": source_tz,
            "tradeloop.license": "MIT, see LICENSE-mlfinpy.txt",
        },
    )
    table = pa.table({"ts_event": ts, "price_raw": price_raw, "size": size}, schema=schema)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / SAMPLE_TRADES_FILE
    pq.write_table(
        table,
        target,
        compression="zstd",
        compression_level=19,
        # Prices and sizes repeat (dictionary); timestamps climb in small steps (delta).
        use_dictionary=["price_raw", "size"],
        column_encoding={"ts_event": "DELTA_BINARY_PACKED"},
        row_group_size=ROWS,
    )
    (out_dir / "LICENSE-mlfinpy.txt").write_text(_license_text(license_path, source_tz), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", nargs="?", type=Path, help="tick_data.csv or the mlfinpy wheel")
    parser.add_argument("--license", type=Path, default=None, help="the mlfinpy LICENSE (for a bare CSV)")
    parser.add_argument("--source-tz", default="UTC", help="zone of the source's naive times (default UTC)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        source: Path | None = args.source
        if source is None:
            source = _download_wheel(tmp_dir)
        if source.suffix == ".whl":
            csv, license_path = _from_wheel(source, tmp_dir)
        else:
            csv, license_path = source, _find_license(source, args.license)
        target = build(csv, license_path, args.out_dir, args.source_tz)
    print(f"wrote {target} ({target.stat().st_size:,} bytes) and {args.out_dir / 'LICENSE-mlfinpy.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
