"""What the gateway's session options cost the engine itself (issue 10, suite A, diagnosis).

lakegate's sessions set two DataFusion options that the in-process comparator of `tpch.py` does
not (`src/session/mod.rs`): strings are read as plain `Utf8` rather than `Utf8View`, and a hash
join hands up to 4,096 build-side keys to the probe side's scan as an IN list (DataFusion's
default: 150). This runs the 22 TPC-H queries in process, over the same Parquet files as
`tpch.py`, with DataFusion's defaults and with each option and both, arms interleaved, so that
the options' share of lakegate / DataFusion can be told apart from the wire's and the gateway's.

Usage: python3 benches/tpch_options.py DATAFUSION_BENCH_BIN [--runs N] [--scale SF]
       (the data comes from `tpch.py` at the same scale: run it first)
"""

import math
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policies import DATA, log, option, write_report  # noqa: E402
from tpch import DataFusionArm, tpch_queries  # noqa: E402

ARMS = {
    "defaults": [],
    "plain strings": ["--plain-strings"],
    "join IN lists": ["--join-in-lists"],
    "both (as the gateway)": ["--plain-strings", "--join-in-lists"],
}


class OptionsArm(DataFusionArm):
    def __init__(self, binary, work, flags):
        self.proc = subprocess.Popen([binary, str(work / "parquet"), *flags],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values))


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    runs, scale = option(args, "--runs", 5), option(args, "--scale", "1")
    work = DATA / f"tpch-sf{scale}"
    if not (work / "parquet" / "lineitem" / ".complete").exists():
        sys.exit(f"no TPC-H data in {work}: run benches/tpch.py at scale {scale} first")
    arms = {name: OptionsArm(args[0], work, flags) for name, flags in ARMS.items()}
    medians = {}
    try:
        for number, sql in enumerate(tpch_queries(), 1):
            samples = {name: [] for name in arms}
            for arm in arms.values():
                arm.run(sql)
            order = list(arms)
            for r in range(runs):
                for name in order[r % len(order):] + order[:r % len(order)]:
                    samples[name].append(arms[name].run(sql)[0])
            medians[number] = {n: statistics.median(s) for n, s in samples.items()}
            log(f"  Q{number:02d}: " + "  ".join(f"{n} {m:.0f}" for n, m in medians[number].items()))
    finally:
        for arm in arms.values():
            arm.close()
    report(medians, runs, scale)


def report(medians, runs, scale):
    names = list(ARMS)
    lines = ["# TPC-H in process: DataFusion's defaults vs the gateway's session options", "",
             f"Scale factor {scale}; median of {runs} interleaved runs per arm after one warm-up, "
             "ms (planning and execution, results collected).", "",
             "| query | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for number, row in medians.items():
        lines.append(f"| Q{number} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    ratios = [f"{geomean([row[n] / row['defaults'] for row in medians.values()]):.3f}"
              for n in names]
    lines.append("| **geomean / defaults** | " + " | ".join(f"**{r}**" for r in ratios) + " |")
    write_report("tpch-options", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
