#!/bin/sh
# A tree for one side of an A/B call: this checkout's HEAD extracted into
# DIR (under .ab/: git-ignored, and carried with carry=[".ab"]), with each PATCH
# applied in order by `patch -p1` (`git apply` run inside an ignored folder resolves
# paths against this checkout, skips every file and exits 0: fifty-fourth
# session). Then AB_OLD=DIR or AB_OLD2=DIR for bench/wgmma_ab.sh.
#   sh bench/ab_tree.sh .ab/old                  HEAD as it is (the baseline)
#   sh bench/ab_tree.sh .ab/p bench/experiments/X.patch [bench/experiments/Y.patch ...]
# Stops if a hunk does not apply; checks that generated/ is what the
# patched spec produces.
set -eu
cd "$(dirname "$0")/.."
dir=${1:?usage: sh bench/ab_tree.sh .ab/NAME [PATCH...]}
shift
case "$dir" in .ab/?*) ;; *) echo "ab_tree: DIR must be under .ab/ (git-ignored, carried)" >&2; exit 2 ;; esac
for patch in "$@"; do [ -f "$patch" ] || { echo "ab_tree: no patch $patch" >&2; exit 2; }; done
root=$(pwd)
rm -rf "$dir"
mkdir -p "$dir"
git archive HEAD | tar -x -C "$dir"
for patch in "$@"; do
  (cd "$dir" && patch -p1 -s --no-backup-if-mismatch <"$root/$patch") || { echo "ab_tree: $patch does not apply" >&2; exit 1; }
done
# Results, plots and experiment patches build nothing: without them a tree
# is ~5 MB instead of ~24, so that two or three fit the 64 MiB carry.
rm -rf "$dir"/bench/results-* "$dir"/bench/*.png "$dir"/bench/experiments
(cd "$dir" && python3 gen/generate.py --check >/dev/null 2>&1) ||
  { echo "ab_tree: generated/ in $dir is not what its spec produces (python3 gen/generate.py there)" >&2; exit 1; }
echo "ab_tree: $dir = $(git rev-parse --short HEAD)${*:+ + $*}"
