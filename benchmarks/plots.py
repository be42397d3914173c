"""Turn the benchmarks' JSON results into figures: ``python benchmarks/plots.py [--out DIR]``.

Reads every ``benchmarks/results/*.json`` (written by the benchmarks' ``--json`` option), draws one PNG per
result with one chart per panel (grouped horizontal bars, one group per method, one bar per series), and
stamps each with the machine, the package versions, the date and the command that measured it. The
figures are made, never edited: ``docs/performance.md`` shows them and ``scripts/docs.sh`` runs this first.

To measure again (this rewrites the JSON results; the commands are in docs/performance.md)::

    python benchmarks/bench_serializers.py --size-mb 16 --chunk-mb 4 --repeat 3 \\
        --json benchmarks/results/bench_serializers.json
    python benchmarks/plots.py
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _stamp(result: dict[str, Any]) -> str:
    stamp = result["stamp"]
    m = stamp["machine"]
    memory = f", {m['memory_gib']} GiB" if m.get("memory_gib") else ""
    versions = ", ".join(f"{k} {v}" for k, v in stamp["versions"].items())
    lines = [
        f"measured {stamp['date']} on {m['system']}, {m['cpu']} ({m['cores']} cores{memory}), "
        f"Python {m['python']}",
        versions,
        *(f"{k}: {v}" for k, v in result["settings"].items() if k.endswith("environment")),
        result["command"],
    ]
    return "\n".join(textwrap.fill(line, 150) for line in lines)


def figure(result: dict[str, Any], out: Path) -> Path:
    """Draw one result; return the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = result["panels"]
    heights = [0.9 + 0.32 * len(p["bars"]) * max(1, len(p["series"])) for p in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(11, sum(heights) + 1.6), squeeze=False, height_ratios=heights
    )
    for ax, panel in zip(axes[:, 0], panels):
        labels = [bar["label"] for bar in panel["bars"]]
        n_series = max(1, len(panel["series"]))
        width = 0.8 / n_series
        for i, series in enumerate(panel["series"]):
            values = [bar["values"].get(series) for bar in panel["bars"]]
            ys = [k + (i - (n_series - 1) / 2) * width for k in range(len(labels))]
            shown = [math.nan if v is None else v for v in values]
            bars = ax.barh(ys, shown, height=width, label=series)
            ax.bar_label(
                bars, labels=["" if v is None else f"{v:.3g}" for v in values], padding=2, fontsize=7
            )
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        better = "higher is better" if panel["better"] == "higher" else "lower is better"
        ax.set_xlabel(f"{panel['unit']} ({better})", fontsize=8)
        ax.set_title(panel["title"], fontsize=9, loc="left")
        ax.margins(x=0.15)
        if n_series > 1:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(result["title"], fontsize=11, x=0.01, ha="left")
    fig.text(0.01, 0.005, _stamp(result), fontsize=6, va="bottom", family="monospace", color="0.3")
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    target = out / f"{result['benchmark']}.png"
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the JSON results")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the PNG figures")
    args = parser.parse_args(argv)
    paths = sorted(args.results.glob("*.json"))
    if not paths:
        raise SystemExit(f"no benchmark results (*.json) in {args.results}")
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        result = json.loads(path.read_text(encoding="utf-8"))
        if result.get("benchmark") != path.stem:
            raise SystemExit(f"{path}: its 'benchmark' is {result.get('benchmark')!r}, not {path.stem!r}")
        print(f"{path.name} -> {figure(result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
