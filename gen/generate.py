#!/usr/bin/env python3
"""Write generated/ from gen/spec.py and templates/.

    python3 gen/generate.py                 # (re)write generated/, touching only changed files
    python3 gen/generate.py --check         # render to a temporary folder, fail on any difference
    python3 gen/generate.py --touch FILE    # also bump FILE's mtime (build.ninja, so ninja reloads)

Output is deterministic: sorted, no timestamps, no absolute paths.
"""
import argparse
import difflib
import filecmp
import os
import re
import sys
import tempfile
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import spec  # noqa: E402

try:
    import jinja2
except ImportError:  # pragma: no cover - message for builders without Jinja2
    sys.exit("gen/generate.py needs Jinja2: python3 -m pip install jinja2 (or apt-get install python3-jinja2)")

DTYPE_ENUM = {"fp16": "FA_DTYPE_FP16", "bf16": "FA_DTYPE_BF16"}
DTYPE_CUDA = {"fp16": "__half", "bf16": "__nv_bfloat16"}
MASK_ENUM = {"none": "FA_MASK_NONE", "causal": "FA_MASK_CAUSAL", "local": "FA_MASK_LOCAL"}
MASK_CUDA = {"none": "fa::kMaskNone", "causal": "fa::kMaskCausal", "local": "fa::kMaskLocal"}
BACKEND_ENUM = {"cuda": "FA_BACKEND_CUDA", "cpu": "FA_BACKEND_CPU"}
FAMILY_KEYS = {"name", "backend", "summary", "design_note", "template", "host", "host_sources", "archs",
               "head_dims", "dtypes", "masks", "tiles", "smem_bytes", "priority", "unit"}
OPTIONAL_FAMILY_KEYS = {"ptxas_clean"}
UNITS = ("kernel", "head_dim")


@dataclass(frozen=True)
class Family:
    name: str
    backend: str  # "cuda" | "cpu"
    summary: str
    design_note: str
    template: str
    host: str
    host_sources: tuple
    archs: tuple  # "80", "90", "90a"; ("",) for the CPU
    head_dims: tuple
    dtypes: tuple
    masks: tuple
    priority: int
    unit: str
    tiles: object  # list of dicts or a function head_dim -> dict
    smem_bytes: object  # function (head_dim, tile) -> bytes
    ptxas_clean: bool = False  # the build fails on spills / wgmma serialization (tests/nvcc_ptxas_clean.sh)

    def tile(self, head_dim):
        if callable(self.tiles):
            return dict(self.tiles(head_dim))
        for row in self.tiles:
            if head_dim <= row["max_head_dim"]:
                return dict(row)
        sys.exit(f"gen/spec.py: family {self.name}: no tile row covers head dim {head_dim}")


@dataclass(frozen=True)
class Kernel:
    family: Family
    arch: str  # "80", "90a"; "" for the CPU
    head_dim: int
    dtype: str
    mask: str
    block_m: int
    block_n: int
    threads: int
    smem_bytes: int
    tile: tuple  # the family's tile row, as sorted (key, value) pairs
    min_seqlen_k: int = 0  # > 0: a long-key specialization (a tile row's long_keys)

    @property
    def backend(self):
        return self.family.backend

    @property
    def arch_number(self):
        """Compute capability x10 ("90a" -> 90); 0 for the CPU."""
        return int(self.arch.rstrip("a")) if self.arch else 0

    @property
    def arch_name(self):
        return f"sm_{self.arch}" if self.arch else ""

    @property
    def group(self):
        """fwd_<family>[_sm<arch>]: the kernels of one family built for one target."""
        return f"fwd_{self.family.name}" + (f"_sm{self.arch}" if self.arch else "")

    @property
    def name(self):
        suffix = f"_k{self.min_seqlen_k}" if self.min_seqlen_k else ""
        return f"{self.group}_hdim{self.head_dim}_{self.dtype}_{self.mask}{suffix}"

    @property
    def symbol(self):
        return "fa_launch_" + self.name

    @property
    def unit(self):
        """The compilation unit (file stem) that holds this kernel."""
        return self.name if self.family.unit == "kernel" else f"{self.group}_hdim{self.head_dim}"

    @property
    def source(self):
        ext = "cu" if self.backend == "cuda" else "c"
        return f"generated/{self.backend}/{self.unit}.{ext}"

    @property
    def opt(self):
        """The tile row's entries (block_m, q_regs, ...) by name, for templates."""
        return dict(self.tile)

    @property
    def description(self):
        t = self.opt
        shape = f"{self.block_m}x{self.block_n} tile"
        if self.backend == "cuda":
            shape += f", {self.threads // 32} warps" + ("; Q in registers" if t.get("q_regs") else "")
            shape += ("; intra-warpgroup overlap" if t.get("overlap") else "") + {False: "", True: "; ping-pong", "softmax": "; softmax turns"}[t.get("pingpong", False)] + ("; persistent" if t.get("persistent") else "") + ("; epilogue through shared memory" if t.get("smem_epilogue") else "") + ("; two Q tiles" if t.get("q_buffers", 1) == 2 else "") + (f"; lazy running max ({t['lazy_rescale']})" if t.get("lazy_rescale") else "") + ("; O staged in its Q tile" if t.get("stage_o_in_q") else "") + ("; first softmax in turns" if t.get("first_softmax_turn") and t.get("pingpong") is True else "") + ("; two row blocks a consumer" if t.get("row_blocks", 1) == 2 else "")
        keys = f"; dispatch takes it for max_seqlen_k >= {self.min_seqlen_k}" if self.min_seqlen_k else ""
        return f"{self.family.summary}; {shape}{keys}"

    @property
    def dtype_enum(self):
        return DTYPE_ENUM[self.dtype]

    @property
    def mask_enum(self):
        return MASK_ENUM[self.mask]

    @property
    def backend_enum(self):
        return BACKEND_ENUM[self.backend]

    @property
    def dtype_cuda(self):
        return DTYPE_CUDA[self.dtype]

    @property
    def mask_cuda(self):
        return MASK_CUDA[self.mask]

    @property
    def warps(self):
        return self.threads // 32


def load_families():
    fams = []
    names = set()
    for raw in spec.FAMILIES:
        where = f"gen/spec.py: family {raw.get('name', '?')!r}"
        missing, unknown = FAMILY_KEYS - set(raw), set(raw) - FAMILY_KEYS - OPTIONAL_FAMILY_KEYS
        if missing or unknown:
            sys.exit(f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
        if not re.fullmatch(r"[a-z][a-z0-9]*", raw["name"]) or raw["name"] in names:
            sys.exit(f"{where}: the name must be lowercase letters/digits and unique")
        names.add(raw["name"])
        if raw["backend"] not in BACKEND_ENUM:
            sys.exit(f"{where}: backend must be one of {sorted(BACKEND_ENUM)}")
        if raw["unit"] not in UNITS:
            sys.exit(f"{where}: unit must be one of {UNITS}")
        archs = tuple(raw["archs"])
        if raw["backend"] == "cpu" and archs != ("",):
            sys.exit(f"{where}: a CPU family has archs [\"\"]")
        for a in archs if raw["backend"] == "cuda" else ():
            if not re.fullmatch(r"\d{2,3}a?", a) or int(a.rstrip("a")) < 80:
                sys.exit(f"{where}: arch {a!r}: give compute capabilities as strings like \"80\", \"90a\" (>= 80)")
        for d in raw["head_dims"]:
            if d % 8 or not 8 <= d <= spec.MAX_HEAD_DIM:
                sys.exit(f"{where}: head dim {d} must be a multiple of 8 in 8..{spec.MAX_HEAD_DIM}")
        if len(set(raw["head_dims"])) != len(raw["head_dims"]):
            sys.exit(f"{where}: head_dims has duplicates")
        for dt in raw["dtypes"]:
            if dt not in DTYPE_ENUM:
                sys.exit(f"{where}: unknown dtype {dt!r}; known: {sorted(DTYPE_ENUM)}")
        for m in raw["masks"]:
            if m not in MASK_ENUM:
                sys.exit(f"{where}: unknown mask {m!r}; known: {sorted(MASK_ENUM)}")
        if not os.path.exists(os.path.join(ROOT, "templates", raw["template"])):
            sys.exit(f"{where}: template templates/{raw['template']} does not exist")
        fams.append(Family(raw["name"], raw["backend"], raw["summary"], raw["design_note"], raw["template"],
                           raw["host"], tuple(raw["host_sources"]), archs, tuple(sorted(raw["head_dims"])),
                           tuple(raw["dtypes"]), tuple(raw["masks"]), int(raw["priority"]), raw["unit"],
                           raw["tiles"], raw["smem_bytes"], bool(raw.get("ptxas_clean", False))))
    return fams


ROW_ONLY_KEYS = ("by_mask", "long_keys")  # a tile row's keys that are not tile fields


def tile_for_mask(t, mask):
    """A tile row with its `by_mask` entries for `mask` applied: a row may
    give one mask other fields (e.g. fewer consumer warpgroups where that
    mask's code needs more registers)."""
    over = t.get("by_mask", {}).get(mask, {})
    return {k: v for k, v in {**t, **over}.items() if k not in ROW_ONLY_KEYS}


def long_key_tiles(f, d, row, mask):
    """The tiles of the row's long-key specializations for `mask` (each the
    row's by_mask entries, then that entry's fields applied) with their
    min_seqlen_k: a row's long_keys=dict(min_seqlen_k=N, masks=[...],
    head_dims=[...], field=value, ...), or a list of such dicts, adds, for
    those masks and head dims (default: all of the row's), a kernel that
    dispatch takes for calls whose max_seqlen_k is at least N (a tile that
    gains on long keys and loses on short ones; with several, the largest N
    the call reaches)."""
    lks = row.get("long_keys") or []
    where = f"gen/spec.py: family {f.name}, head dim {d}: long_keys"
    base = tile_for_mask(row, mask)
    out = []
    for lk in [lks] if isinstance(lks, dict) else lks:
        n = lk.get("min_seqlen_k")
        if not isinstance(n, int) or n < 1:
            sys.exit(f"{where}: min_seqlen_k must be a positive int")
        masks = lk.get("masks", list(f.masks))
        if set(masks) - set(f.masks):
            sys.exit(f"{where}: masks names masks the family does not build: {sorted(set(masks) - set(f.masks))}")
        fields = {k: v for k, v in lk.items() if k not in ("min_seqlen_k", "masks", "head_dims")}
        # A field is known when the row or one of its by_mask entries sets it
        # (row_blocks, say, set only for mask none): a typo still stops here.
        known = set(row) | {k for over in row.get("by_mask", {}).values() for k in over}
        if set(fields) - known:
            sys.exit(f"{where}: unknown tile fields {sorted(set(fields) - known)}")
        if mask not in masks or d not in lk.get("head_dims", [d]):
            continue
        if any(m == n for _, m in out):
            sys.exit(f"{where}: two entries for mask {mask} at min_seqlen_k {n}")
        out.append(({**base, **fields}, n))
    return out


LAZY_RESCALE_VALUES = (False, "row", "warp", "speculative")  # wgmma/traits.cuh RescaleRule


def check_lazy_rescale(f, d, mask, t):
    """A tile's lazy_rescale is a RescaleRule, and "speculative" (P
    recomputed when its check fails) needs P packed in the softmax turn:
    softmax turns in the overlapped loop. Said here rather than by the
    kernel's static_assert, a build later."""
    if "lazy_rescale" not in t:
        return
    where = f"gen/spec.py: family {f.name}, head dim {d}, mask {mask}"
    v = t["lazy_rescale"]
    if v not in LAZY_RESCALE_VALUES:
        sys.exit(f"{where}: lazy_rescale must be one of {LAZY_RESCALE_VALUES}, not {v!r}")
    if v == "speculative" and not (t.get("pingpong") == "softmax" and t.get("overlap")):
        sys.exit(f"{where}: lazy_rescale='speculative' needs pingpong='softmax' and overlap=True "
                 f"(set lazy_rescale for this mask in by_mask, or in its long_keys entry)")


def kernels(fams):
    out = []
    for f in fams:
        for a in f.archs:
            for d in f.head_dims:
                row = f.tile(d)
                unknown = set(row.get("by_mask", {})) - set(f.masks)
                if unknown:
                    sys.exit(f"gen/spec.py: family {f.name}, head dim {d}: by_mask names masks it does not build: "
                             f"{sorted(unknown)}")
                for dt in f.dtypes:
                    for m in f.masks:
                        variants = [(tile_for_mask(row, m), 0)] + long_key_tiles(f, d, row, m)
                        for t, min_keys in variants:
                            check_lazy_rescale(f, d, m, t)
                            threads = t.get("warps", 0) * 32 if f.backend == "cuda" else 1
                            out.append(Kernel(f, a, d, dt, m, t["block_m"], t["block_n"], threads,
                                              int(f.smem_bytes(d, t)), tuple(sorted(t.items())), min_keys))
    names = [k.name for k in out]
    if len(set(names)) != len(names):
        sys.exit("gen/spec.py: two kernels would get the same name")
    return sorted(out, key=lambda k: (k.backend, k.family.name, k.arch_number, k.arch, k.head_dim, k.dtype, k.mask,
                                      k.min_seqlen_k))


def tile_variants(ks, family):
    """The family's distinct tiles, for SUPPORT.md: one row per (head dim,
    min_seqlen_k, tile fields) with the masks that share it, so a row's
    by_mask entries and long_keys kernels show beside its plain tile."""
    shown = ("max_head_dim", "block_m", "block_n", "warps")  # the table's own columns
    rows = {}
    for k in ks:
        if k.family is not family:
            continue
        row = rows.get((k.head_dim, k.min_seqlen_k, k.tile))
        if row is None:
            options = [name if value is True else f"no {name}" if value is False else f"{name}={value}"
                       for name, value in k.tile if name not in shown]
            row = rows[(k.head_dim, k.min_seqlen_k, k.tile)] = dict(
                head_dim=k.head_dim, min_seqlen_k=k.min_seqlen_k, block_m=k.block_m, block_n=k.block_n,
                threads=k.threads, smem_bytes=k.smem_bytes, options=", ".join(options) or "-", masks=set())
        row["masks"].add(k.mask)
    for row in rows.values():
        row["masks"] = [m for m in family.masks if m in row["masks"]]
    return sorted(rows.values(), key=lambda r: (r["head_dim"], r["min_seqlen_k"], family.masks.index(r["masks"][0])))


# FwdWgmmaTraits' template parameters after ROW_BLOCKS, each with its
# default (src/cuda/wgmma/traits.cuh): (tile field, C++ default, C++ value).
WGMMA_TRAILING_PARAMS = [
    ("list_max", "FA_TILE_LIST_MAX", lambda v: str(v)),
    ("q_evict_first", "false", lambda v: "true" if v else "false"),
    ("o_evict_first", "false", lambda v: "true" if v else "false"),
]


def wgmma_trailing_args(opt):
    """The trailing template arguments of a wgmma kernel's traits, up to the
    last one that is not its default: a kernel that sets none of these
    fields spells its traits (and so its mangled name) as before they
    existed."""
    args = [cxx(opt[field]) if field in opt else default for field, default, cxx in WGMMA_TRAILING_PARAMS]
    defaults = [default for _, default, _ in WGMMA_TRAILING_PARAMS]
    while args and args[-1] == defaults[len(args) - 1]:
        args.pop()
    return args


def render_all():
    """Return {relative path inside generated/: text}."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(ROOT, "templates")),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    fams = load_families()
    ks = kernels(fams)
    units = {}
    for k in ks:
        units.setdefault(k.source, []).append(k)
    all_dims = sorted({k.head_dim for k in ks})
    cuda_targets = sorted({k.arch_name for k in ks if k.backend == "cuda"}, key=lambda a: (int(a[3:].rstrip("a")), a))
    ctx = {
        "kernels": ks,
        "families": fams,
        "units": sorted(units.items()),
        "cuda_kernels": [k for k in ks if k.backend == "cuda"],
        "cpu_kernels": [k for k in ks if k.backend == "cpu"],
        "head_dims": all_dims,
        "dtypes": spec.DTYPES,
        "masks": spec.MASKS,
        "cuda_targets": cuda_targets,
        "host_sources": sorted({s for f in fams for s in f.host_sources}),
        "tile_variants": {f.name: tile_variants(ks, f) for f in fams},
        "wgmma_trailing_args": wgmma_trailing_args,
    }
    files = {}
    for source, uks in sorted(units.items()):
        files[os.path.relpath(source, "generated")] = env.get_template(uks[0].family.template).render(
            unit=uks[0].unit, unit_kernels=uks, **ctx)
    for tpl, name in [
        ("kernel_table.c.j2", "kernel_table.c"),
        ("build.ninja.j2", "build.ninja"),
        ("test_cases.inc.j2", "test_cases.inc"),
        ("SUPPORT.md.j2", "SUPPORT.md"),
    ]:
        files[name] = env.get_template(tpl).render(**ctx)
    return files


def existing_files(folder):
    found = set()
    for dirpath, _, names in os.walk(folder):
        for n in names:
            found.add(os.path.relpath(os.path.join(dirpath, n), folder))
    return found


def write_tree(files, folder):
    """Write files whose content changed; delete files the spec no longer produces."""
    changed = 0
    for rel, text in sorted(files.items()):
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text:
                    continue
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        changed += 1
    for rel in sorted(existing_files(folder) - set(files)):
        os.remove(os.path.join(folder, rel))
        changed += 1
    return changed


def check_tree(files, folder):
    """Render into a temporary folder and compare with `folder`; return problems."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(files, tmp)
        want, have = existing_files(tmp), existing_files(folder) if os.path.isdir(folder) else set()
        for rel in sorted(want - have):
            problems.append(f"missing: generated/{rel}")
        for rel in sorted(have - want):
            problems.append(f"stale (the spec no longer produces it): generated/{rel}")
        for rel in sorted(want & have):
            a, b = os.path.join(tmp, rel), os.path.join(folder, rel)
            if not filecmp.cmp(a, b, shallow=False):
                with open(b, encoding="utf-8") as fb, open(a, encoding="utf-8") as fa:
                    diff = difflib.unified_diff(fb.readlines(), fa.readlines(),
                                                f"generated/{rel}", f"fresh/{rel}", n=1)
                problems.append("differs: generated/" + rel + "\n" + "".join(list(diff)[:20]))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "generated"))
    ap.add_argument("--check", action="store_true", help="fail if --out differs from a fresh render")
    ap.add_argument("--touch", metavar="FILE", help="bump FILE's mtime after writing")
    args = ap.parse_args()
    files = render_all()
    if args.check:
        problems = check_tree(files, args.out)
        if problems:
            print("generated/ is not what gen/generate.py writes from the spec and templates:")
            print("\n".join(problems))
            print("run `ninja` (or python3 gen/generate.py) and commit generated/")
            return 1
        print(f"generated/ is fresh ({len(files)} files)")
        return 0
    changed = write_tree(files, args.out)
    print(f"gen: {len(files)} files, {changed} changed")
    if args.touch:
        os.utime(args.touch, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
