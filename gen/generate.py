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


@dataclass(frozen=True)
class Kernel:
    backend: str  # "cuda" | "cpu"
    family: str  # "mma" | "cpu"
    arch: int  # compute capability x10; 0 for the CPU
    head_dim: int
    dtype: str
    mask: str
    block_m: int
    block_n: int
    threads: int
    smem_bytes: int
    q_regs: bool = False

    @property
    def name(self):
        where = f"cuda_sm{self.arch}" if self.backend == "cuda" else "cpu"
        return f"fwd_{where}_hdim{self.head_dim}_{self.dtype}_{self.mask}"

    @property
    def group(self):
        return self.name.split("_hdim")[0]

    @property
    def symbol(self):
        return "fa_launch_" + self.name

    @property
    def source(self):
        ext = "cu" if self.backend == "cuda" else "c"
        return f"generated/{self.backend}/{self.name}.{ext}"

    @property
    def dtype_enum(self):
        return DTYPE_ENUM[self.dtype]

    @property
    def mask_enum(self):
        return MASK_ENUM[self.mask]

    @property
    def dtype_cuda(self):
        return DTYPE_CUDA[self.dtype]

    @property
    def mask_cuda(self):
        return MASK_CUDA[self.mask]

    @property
    def warps(self):
        return self.threads // 32


def check_spec():
    dims = spec.HEAD_DIMS
    if sorted(set(dims)) != sorted(dims):
        sys.exit(f"gen/spec.py: HEAD_DIMS has duplicates: {dims}")
    for d in dims:
        if d % 8 or not 8 <= d <= spec.MAX_HEAD_DIM:
            sys.exit(f"gen/spec.py: head dim {d} must be a multiple of 8 in 8..{spec.MAX_HEAD_DIM}")
    for dt in spec.DTYPES:
        if dt not in DTYPE_ENUM:
            sys.exit(f"gen/spec.py: unknown dtype {dt!r}; known: {sorted(DTYPE_ENUM)}")
    for m in spec.MASKS:
        if m not in MASK_ENUM:
            sys.exit(f"gen/spec.py: unknown mask {m!r}; known: {sorted(MASK_ENUM)}")
    for a in spec.CUDA_ARCHS:
        if a < 80:
            sys.exit(f"gen/spec.py: arch {a}: the mma.sync family needs sm_80 or newer")


def mma_tile(head_dim):
    for max_dim, block_m, block_n, warps, q_regs in spec.MMA_TILES:
        if head_dim <= max_dim:
            return block_m, block_n, warps, q_regs
    sys.exit(f"gen/spec.py: no MMA_TILES row covers head dim {head_dim}")


def mma_smem_bytes(head_dim, block_m, block_n):
    """Q tile + one K tile + one V tile, rows padded by 16 bytes (see fwd_mma.cuh)."""
    padded = (head_dim + 15) // 16 * 16
    return (block_m + 2 * block_n) * (padded + 8) * 2


def cpu_block_m(head_dim, block_n):
    """Query rows per CPU block: as many as the kernel's fixed stack buffers
    hold (src/cpu/fwd_cpu.h: 1024 floats of queries/accumulators, 512 of
    scores, at most 32 rows; the generated file static-asserts this)."""
    return max(1, min(1024 // head_dim, 512 // block_n, 32))


def kernels():
    out = []
    for d in sorted(spec.HEAD_DIMS):
        for dt in spec.DTYPES:
            for m in spec.MASKS:
                block_m, block_n, warps, q_regs = mma_tile(d)
                for a in sorted(spec.CUDA_ARCHS):
                    out.append(Kernel("cuda", "mma", a, d, dt, m, block_m, block_n, warps * 32,
                                      mma_smem_bytes(d, block_m, block_n), q_regs))
                out.append(Kernel("cpu", "cpu", 0, d, dt, m, cpu_block_m(d, spec.CPU_BLOCK_N), spec.CPU_BLOCK_N,
                                  1, 0))
    return sorted(out, key=lambda k: (k.backend, k.arch, k.head_dim, k.dtype, k.mask))


def render_all():
    """Return {relative path inside generated/: text}."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(ROOT, "templates")),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    ks = kernels()
    ctx = {
        "kernels": ks,
        "cuda_kernels": [k for k in ks if k.backend == "cuda"],
        "cpu_kernels": [k for k in ks if k.backend == "cpu"],
        "head_dims": sorted(spec.HEAD_DIMS),
        "dtypes": spec.DTYPES,
        "masks": spec.MASKS,
        "cuda_archs": sorted(spec.CUDA_ARCHS),
        "mma_tiles": spec.MMA_TILES,
        "cpu_block_n": spec.CPU_BLOCK_N,
    }
    files = {}
    for k in ks:
        tpl = "fwd_mma.cu.j2" if k.backend == "cuda" else "fwd_cpu.c.j2"
        files[os.path.relpath(k.source, "generated")] = env.get_template(tpl).render(k=k, **ctx)
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
    check_spec()
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
