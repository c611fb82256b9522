"""Edit a copy of gen/spec.py into the small build of the device scripts.

    python3 bench/small_spec.py SPEC [--mma-bf16] [--switch NAME ...]

sm_90 only and head dims 64 and 128 for the families that use HEAD_DIMS
(the wgmma family keeps its own list); --mma-bf16: the mma family in bf16
only (a timing baseline); --switch NAME: NAME=True in every WGMMA_TILES row,
--switch=-NAME: NAME=False (fails if a row lacks NAME). Used on the device's copy of the tree,
never on a checkout that is committed.
"""
import argparse
import re

ap = argparse.ArgumentParser()
ap.add_argument("spec")
ap.add_argument("--mma-bf16", action="store_true")
ap.add_argument("--switch", action="append", default=[])
args = ap.parse_args()
s = open(args.spec).read()
s = s.replace('archs=["80", "90"]', 'archs=["90"]')
s = re.sub(r"^HEAD_DIMS = \[.*\]", "HEAD_DIMS = [64, 128]", s, flags=re.M)
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
open(args.spec, "w").write(s)
