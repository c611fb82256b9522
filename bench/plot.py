"""PNG plot of a bench.py result: TF/s of ours vs torch varlen_attn vs SDPA cuDNN.

    python3 bench/plot.py RESULTS.json [--png FILE]    (bench.py --replot does the same)

One panel per (dtype, head dim) of the grid, sequence length on the x axis,
full attention solid and causal dashed; the extra rows (packed varlen, GQA,
sliding window, other head dims) as grouped bars underneath. Needs
matplotlib only (no torch, no GPU): bench.py calls plot() after a run when
matplotlib is importable.
"""
import argparse
import json
import os
import re

GRID_ROW = re.compile(r"^(?P<dtype>bfloat16|float16) d(?P<d>\d+) b(?P<b>\d+) h(?P<h>\d+) s(?P<s>\d+) "
                      r"(?P<mask>full|causal)$")
# (result key, label, color)
SERIES = (("ours_ms", "ours (flashattn)", "#d62728"), ("varlen_ms", "torch varlen_attn (FA2)", "#1f77b4"),
          ("cudnn_ms", "SDPA cuDNN", "#2ca02c"))


def tflops(row, key):
    ms = row.get(key)
    return row["flops"] / ms / 1e9 if isinstance(ms, (int, float)) and ms > 0 else None


def split_rows(rows):
    """({(dtype, head_dim): {mask: [(seqlen, row), ...]}}, [extra rows])."""
    grid, extras = {}, []
    for r in rows:
        m = GRID_ROW.match(r["row"])
        if m is None:
            extras.append(r)
            continue
        key = (m.group("dtype"), int(m.group("d")))
        grid.setdefault(key, {}).setdefault(m.group("mask"), []).append((int(m.group("s")), r))
    for masks in grid.values():
        for pts in masks.values():
            pts.sort(key=lambda p: p[0])
    return grid, extras


def plot(data, path):
    """Write the PNG for bench.py's JSON `data` ({"env": ..., "rows": [...]}) to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    env, rows = data.get("env", {}), data["rows"]
    grid, extras = split_rows(rows)
    dtypes = [d for d in ("bfloat16", "float16") if any(k[0] == d for k in grid)]
    dims = sorted({k[1] for k in grid})
    ncols = max(len(dims), 1)
    nrows = len(dtypes) + (1 if extras else 0)
    fig = plt.figure(figsize=(5.2 * ncols, 3.9 * max(nrows, 1) + 0.6))
    gs = fig.add_gridspec(max(nrows, 1), ncols, hspace=0.45, wspace=0.22, top=1 - 0.8 / fig.get_figheight())
    top = 0.0
    for i, dt in enumerate(dtypes):
        for j, d in enumerate(dims):
            ax = fig.add_subplot(gs[i, j])
            masks = grid.get((dt, d), {})
            seqs = sorted({s for pts in masks.values() for s, _ in pts})
            for key, _, color in SERIES:
                for mask, style in (("full", "-"), ("causal", "--")):
                    pts = [(s, tflops(r, key)) for s, r in masks.get(mask, [])]
                    pts = [(s, t) for s, t in pts if t is not None]
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color, marker="o",
                                markersize=3.5, linewidth=1.6)
                        top = max(top, max(p[1] for p in pts))
            ax.set_xscale("log", base=2)
            if seqs:
                ax.set_xticks(seqs)
                ax.set_xticklabels([str(s) if s < 1024 else "%dk" % (s // 1024) for s in seqs])
            h = masks[next(iter(masks))][0][1]["row"].split()[3] if masks else ""
            ax.set_title("%s, head dim %d (%s, 16k tokens)" % (dt, d, h), fontsize=10)
            ax.set_xlabel("sequence length (batch x seqlen = 16384)", fontsize=8)
            ax.set_ylabel("TF/s", fontsize=8)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=8)
    axes = fig.axes
    for ax in axes:
        ax.set_ylim(0, top * 1.08 if top else 1)
    if extras:
        ax = fig.add_subplot(gs[len(dtypes), :])
        width = 0.8 / len(SERIES)
        for n, (key, label, color) in enumerate(SERIES):
            xs, ys = [], []
            for i, r in enumerate(extras):
                t = tflops(r, key)
                if t is not None:
                    xs.append(i + (n - (len(SERIES) - 1) / 2) * width)
                    ys.append(t)
            ax.bar(xs, ys, width, color=color, label=label)
        ax.set_xticks(range(len(extras)))
        ax.set_xticklabels([r["row"] for r in extras], rotation=12, ha="right", fontsize=8)
        ax.set_ylabel("TF/s", fontsize=8)
        ax.set_title("other problems (bf16): packed varlen, GQA, sliding window, head dims 80/96 "
                     "(cuDNN: dense rows only)", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.tick_params(axis="y", labelsize=8)
    handles = [Line2D([], [], color=c, linewidth=2, label=lab) for _, lab, c in SERIES]
    handles += [Line2D([], [], color="k", linestyle="-", label="full"),
                Line2D([], [], color="k", linestyle="--", label="causal")]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.05 / fig.get_figheight()))
    title = "Forward attention TF/s (visible FLOPs): %s; torch %s, CUDA %s, cuDNN %s; %s" % (
        env.get("device", "?"), env.get("torch", "?"), env.get("cuda", "?"), env.get("cudnn", "?"),
        env.get("date", "?"))
    fig.suptitle(title, fontsize=11, y=1 + 0.2 / fig.get_figheight())
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", help="a bench.py result (bench.json, bench/results-*.json)")
    ap.add_argument("--png", help="output file (default: the JSON's name with .png)")
    args = ap.parse_args()
    with open(args.json) as fh:
        data = json.load(fh)
    out = args.png or os.path.splitext(args.json)[0] + ".png"
    print("wrote", plot(data, out))


if __name__ == "__main__":
    main()
