"""Size and open time of results/report.html in headless Chromium, with and without the map explorer.

    python benchmarks/report_open.py [results/report.html] [--repeats 5] [--screenshot out.png]

Opens the report from file:// in a fresh page per repeat (Playwright + the system Chromium, see
blurfocus.browser) and prints the file size, the time to the ``load`` event and to the explorer's
first drawn panes (median and max over repeats), the same for a copy without the explorer's data
and script, their ratio, the embedded explorer data (images, map sets, MB) and the CPU. Console
errors fail the run (exit 1).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from blurfocus import browser  # noqa: E402
from machine import cpu_description  # noqa: E402  (benchmarks/machine.py)

DATA = re.compile(r'<script type="application/json" id="bx-data">(.*?)</script>', re.S)


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s, max {max(times):.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", nargs="?", default="results/report.html")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--screenshot", default=None)
    args = ap.parse_args()
    reason = browser.missing()
    if reason:
        print(f"cannot measure: {reason}", file=sys.stderr)
        return 2
    path = Path(args.report)
    html = path.read_text()
    m = DATA.search(html)
    if m:
        data = json.loads(m.group(1))
        maps = sum(1 for c in data["conditions"] for x in c["png"] if x)
        print(f"explorer data: {len(m.group(1)) / 1e6:.2f} MB, {len(data['images'])} images, "
              f"{len(data['conditions'])} map sets ({maps} maps, {data['size']}x{data['size']} px)")
        for line in data.get("left_out", []):
            print(f"  left out: {line}")
    full = browser.measure_open(path, args.screenshot, repeats=args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "report-without-explorer.html"
        stripped = DATA.sub("", html).replace('<div id="bx" class="bx"></div>', "")
        bare.write_text(stripped)
        base = browser.measure_open(bare, repeats=args.repeats)
    print(f"CPU: {cpu_description()}")
    print(f"{'':28s}{'size':>10s}  load event                 explorer drawn")
    print(f"{'report.html':28s}{full['size_mb']:8.2f} MB  {summary(full['load_s']):26s} {summary(full['ready_s'])}")
    print(f"{'without the explorer':28s}{base['size_mb']:8.2f} MB  {summary(base['load_s']):26s}")
    ratio = statistics.median(full["ready_s"]) / statistics.median(base["load_s"])
    print(f"open time with the explorer drawn / without the explorer: {ratio:.2f}x")
    errors = full["errors"] + base["errors"]
    for e in errors:
        print(f"console error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
