#!/usr/bin/env python3
"""Carry a patch made before the wgmma kernel's split (339efc2) over to it.

Until the hundred-and-third session the kernel was one file,
src/cuda/fwd_wgmma.cuh; since then it is in parts under src/cuda/wgmma/
(fwd_wgmma.md "Where the code is"). The split moved lines without changing
them, so a patch of the old file carries over exactly: apply it to the last
commit before the split, cut the old file at its section markers with and
without the patch, and diff the parts. Other files of the patch are diffed
as they are (apply with `git apply -3` where main moved since).

    python3 bench/carry_over_split.py [EARLIER.patch ...] OLD.patch > NEW.patch
    patch -p1 < NEW.patch          (or: git apply -3 NEW.patch)

A patch made on top of others: name those first; they are applied to both
sides, so NEW.patch holds OLD.patch's change alone (apply the earlier ones'
carried patches first).

Needs git and patch; run from anywhere in the checkout. Fails if the patch
does not apply to the old file or moves a section marker.
"""
import os
import re
import subprocess
import sys
import tempfile

BASE = "339efc2^"  # the last commit with the kernel in one file
GUARD_ON = "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900"
GUARD_OFF = "#endif  // __CUDA_ARCH__ >= 900"
# the parts in the order of the old file
PARTS = ["traits", "loads", "gemm_softmax", "work_tiles", "producer", "epilogue", "consumer"]


def find(lines, pred, start=0):
    for i in range(start, len(lines)):
        if pred(lines[i]):
            return i
    raise SystemExit("carry_over_split: a section marker is missing (did the patch move one?)")


def marker(lines, name):
    return find(lines, lambda l: re.fullmatch(r"// -{20,} " + re.escape(name), l) is not None)


def strip_blank(lines):
    while lines and lines[0] == "":
        lines = lines[1:]
    while lines and lines[-1] == "":
        lines = lines[:-1]
    return lines


def guard_on_at(lines, upto):
    on = False
    for l in lines[:upto]:
        on = True if l == GUARD_ON else False if l == GUARD_OFF else on
    return on


def head_of(path):
    """A part's lines up to and with `namespace fa {` as the checkout has them."""
    lines = open(path).read().split("\n")
    return lines[: lines.index("namespace fa {") + 1]


def cut(tree, repo):
    """{relative path: text} of the old fwd_wgmma.cuh in `tree` cut as the split cut it."""
    src = open(os.path.join(tree, "src/cuda/fwd_wgmma.cuh")).read().split("\n")
    if src[-1] == "":
        src = src[:-1]
    ns = src.index("namespace fa {")
    loads, steps, work = marker(src, "producer"), marker(src, "consumer stages"), marker(src, "work tiles")
    prod = marker(src, "producer role")
    prod_guard = prod - 1
    while src[prod_guard] == "":
        prod_guard -= 1
    epi = marker(src, "consumer role")
    cons = find(src, lambda l: l.startswith("// One past the last key that any of a consumer's 64 rows"), epi)
    kernel = marker(src, "the kernel")
    spans = [(ns + 1, loads, False), (loads, steps, True), (steps, work, True), (work, prod_guard, True),
             (prod_guard, epi, True), (epi, cons, True), (cons, kernel, False)]
    out = {}
    for name, (a, b, drop) in zip(PARTS, spans):
        body = list(src[a:b])
        if drop:  # the section marker: the file's name says it now
            i = next(k for k, l in enumerate(body) if re.fullmatch(r"// -{20,} .*", l))
            del body[i]
            if 0 < i < len(body) and body[i - 1] == "" and body[i] == "":
                del body[i]
        body = strip_blank(body)
        if guard_on_at(src, a) and (not body or body[0] != GUARD_ON):
            body = [GUARD_ON, ""] + body
        if guard_on_at(src, b):
            body = body + ["", GUARD_OFF]
        rel = "src/cuda/wgmma/%s.cuh" % name
        out[rel] = "\n".join(head_of(os.path.join(repo, rel)) + [""] + body + ["", "}  // namespace fa", ""])
    rel = "src/cuda/fwd_wgmma.cuh"
    out[rel] = "\n".join(head_of(os.path.join(repo, rel)) + [""] + strip_blank(src[kernel:]) + [""])
    return out


def write_tree(root, files):
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        open(os.path.join(root, rel), "w").write(text)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    patches = [os.path.abspath(p) for p in sys.argv[1:]]
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        old, new = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        for d in (old, new):
            os.makedirs(d)
            subprocess.run("git -C %s archive %s | tar -x -C %s" % (repo, BASE, d), shell=True, check=True)
        for d, applied in ((old, patches[:-1]), (new, patches)):
            for p in applied:
                subprocess.run(["patch", "-p1", "-s", "--no-backup-if-mismatch", "-d", d, "-i", p], check=True)
        # the other files as the patch left them; the old kernel file as its parts
        for d in (old, new):
            parts = cut(d, repo)
            write_tree(d, parts)
        diff = subprocess.run(["diff", "-ruN", "a", "b"], cwd=tmp, capture_output=True, text=True).stdout
        sys.stdout.write(re.sub(r"^(---|\+\+\+) ([ab])/(\S+).*$", r"\1 \2/\3", diff, flags=re.M))


if __name__ == "__main__":
    main()
