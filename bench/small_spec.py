"""Edit a copy of gen/spec.py into the small build of the device scripts.

    python3 bench/small_spec.py SPEC [--mma-bf16] [--switch NAME ...] [--tile D:KEY=VALUE ...]
                                     [--decode-tile D:KEY=VALUE ...] [--wgmma-dims 64,128,256]

sm_90 only and head dims 64 and 128 ($SMALL_HEAD_DIMS: others, e.g. 64,128,256)
for the families that use HEAD_DIMS
(the wgmma family keeps its own list); --mma-bf16: the mma family in bf16
only (a timing baseline); --switch NAME: NAME=True in every WGMMA_TILES row,
--switch=-NAME: NAME=False (fails if a row lacks NAME); --tile D:KEY=VALUE: KEY=VALUE (added if the row lacks KEY)
in the WGMMA_TILES row with max_head_dim=D (e.g. 64:block_n=192; a dotted KEY reaches into the row's
nested dicts and, by index, lists: 64:long_keys.min_seqlen_k=2048, 64:by_mask.causal.block_m=192,
256:long_keys.1.min_seqlen_k=2048; an index one past a list's end appends; VALUE a Python literal,
strings quoted: 128:lazy_rescale='warp', dicts as {'key': value}); --decode-tile D:KEY=VALUE: the same
in DECODE_TILES (e.g. 128:stages=2); --wgmma-dims: the wgmma family's
head dims (default: all). Used on the device's copy of the tree,
never on a checkout that is committed.
"""
import argparse
import ast
import os
import re

ap = argparse.ArgumentParser()
ap.add_argument("spec")
ap.add_argument("--mma-bf16", action="store_true")
ap.add_argument("--switch", action="append", default=[])
ap.add_argument("--tile", action="append", default=[])
ap.add_argument("--decode-tile", action="append", default=[])
ap.add_argument("--wgmma-dims")
args = ap.parse_args()
s = open(args.spec).read()
s = s.replace('archs=["80", "90"]', 'archs=["90"]')
# $SMALL_HEAD_DIMS (e.g. "64,128,256"): other head dims for every tree a
# device script builds (the old side of an A/B too)
small_dims = os.environ.get("SMALL_HEAD_DIMS", "64,128").replace(",", ", ")
s = re.sub(r"^HEAD_DIMS = \[.*\]", f"HEAD_DIMS = [{small_dims}]", s, flags=re.M)
# the wgmma family keeps its own head-dim list (d32/d80/d96/d192 too), or
# --wgmma-dims: the first head_dims= after its name. (Until the forty-
# eighth session this matched "head_dims=HEAD_DIMS", which is the CPU
# family's: every A/B built all wgmma head dims.)
i = s.index('name="wgmma"')
if args.wgmma_dims:
    j = s.index("head_dims=", i)
    k = s.index("\n", j)
    s = s[:j] + f"head_dims=[{args.wgmma_dims}],  # small_spec.py --wgmma-dims" + s[k:]
if args.mma_bf16:
    i = s.index('name="mma"')
    j = s.index("dtypes=DTYPES", i)
    s = s[:j] + 'dtypes=["bf16"]' + s[j + len("dtypes=DTYPES"):]
if args.switch:
    i = s.index("\nWGMMA_TILES = [")
    j = s.index("\n]", i)
    tiles = s[i:j]
    for sw in args.switch:
        name, value = (sw[1:], "False") if sw.startswith("-") else (sw, "True")
        assert f"{name}=" in tiles, f"no {name} in WGMMA_TILES"
        tiles = re.sub(rf"\b{name}=(True|False)", f"{name}={value}", tiles)
    s = s[:i] + tiles + s[j:]
def spec_literal(v):
    """A table value as gen/spec.py writes it: dict(key=value, ...)."""
    if isinstance(v, dict):
        return "dict(" + ", ".join(f"{k}={spec_literal(x)}" for k, x in v.items()) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(spec_literal(x) for x in v) + "]"
    return repr(v)


def set_tile(s, table, t):
    """PATH=VALUE in the row of `table` whose max_head_dim is D (t: "D:PATH=VALUE").
    PATH is a field of the row (added if the row leaves it at its default,
    e.g. q_buffers) or a dotted path into its nested dicts, created where
    missing: long_keys.min_seqlen_k, by_mask.causal.block_m; a number indexes
    a list (long_keys.0.masks; one past its end appends, as a value or
    field by field: long_keys.2.min_seqlen_k=4096 long_keys.2.masks=[...]). The table is
    evaluated (its rows are dict(...) calls of literals) and written back
    without its comments."""
    dim, kv = t.split(":", 1)
    path, value = kv.split("=", 1)
    i = s.index(f"\n{table} = [")
    j = s.index("\n]", i)
    body = s[i + len(f"\n{table} = ["):j]
    rows = eval("[" + body + "\n]", {"__builtins__": {}}, {"dict": dict, "True": True, "False": False, "None": None})
    hits = [r for r in rows if r["max_head_dim"] == int(dim)]
    assert len(hits) == 1, f"no {table} row max_head_dim={dim}"
    keys = path.split(".")
    node = hits[0]
    for k in keys[:-1]:
        if isinstance(node, list) and int(k) == len(node):
            node.append({})  # one past the end: a new entry, filled field by field
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    v = ast.literal_eval(value)
    if isinstance(node, list) and int(keys[-1]) == len(node):
        node.append(v)
    else:
        node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = v
    table_text = "".join(f"\n    {spec_literal(r)}," for r in rows)
    return s[:i] + f"\n{table} = [" + table_text + s[j:]


for t in args.tile:
    s = set_tile(s, "WGMMA_TILES", t)
for t in args.decode_tile:
    s = set_tile(s, "DECODE_TILES", t)
open(args.spec, "w").write(s)
