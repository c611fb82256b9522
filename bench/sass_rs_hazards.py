"""Writes to an RS wgmma's A-fragment registers before the wait that retires it.

ptxas may give another value the registers of an A fragment (P, in the P V
GEMM) right after the HGMMA that reads them, while that HGMMA still runs
(src/cuda/common/wgmma.cuh, fifty-fourth session). Any code placed between
an RS wgmma's issue and its wait_group must be checked for it in the SASS:

    nvdisasm -c kernel.cubin > k.sass && python3 bench/sass_rs_hazards.py k.sass

A register counts as written when it is the first operand of an instruction
that is not a store, branch or barrier (64-bit and 128-bit forms cover 2 and
4 registers). HGMMAs form groups, each closed by the one marked `gsb0`;
`WARPGROUP.DEPBAR.LE gsb0, 0xN` retires all but the newest N groups, and the
A registers of the groups not retired are in flight (an SS group after an RS
one, waited for with 0x1, leaves the RS one retired). Prints each hit and a
count.
"""
import re
import sys

NOT_WRITES = ("ST", "BAR", "BRA", "SYNCS", "RED", "ATOM", "WARPSYNC", "BSYNC", "BSSY", "NOP", "EXIT", "UTMA",
              "CALL", "RET", "FENCE", "MEMBAR", "ELECT", "DEPBAR")


def hazards(lines):
    groups, open_group, found = [], set(), []  # closed groups not retired (oldest first), the one being issued
    for i, line in enumerate(lines):
        body = re.sub(r"^\s*/\*[0-9a-f]+\*/\s*", "", line).split(";")[0].strip()
        body = re.sub(r"^@!?U?P[T0-9]+\s+", "", body)
        op = body.split()[0] if body else ""
        if op.startswith("HGMMA"):
            m = re.match(r"HGMMA\S*\s+R\d+,\s+R(\d+),", body)
            if m:
                open_group |= set(range(int(m.group(1)), int(m.group(1)) + 4))
            if body.rstrip().endswith("gsb0"):
                groups.append(open_group)
                open_group = set()
            continue
        if op.startswith("WARPGROUP.DEPBAR"):
            m = re.search(r"0x([0-9a-f]+)$", body.rstrip())
            keep = int(m.group(1), 16) if m else 0
            groups = groups[len(groups) - keep:] if keep else []
            continue
        in_flight = open_group.union(*groups)
        if not in_flight or op.startswith(NOT_WRITES):
            continue
        m = re.match(r"\S+\s+R(\d+)", body)
        if m:
            r = int(m.group(1))
            width = 4 if ".128" in op else 2 if (".64" in op or op.startswith(("IMAD.WIDE", "CS2R"))) else 1
            hit = [x for x in range(r, r + width) if x in in_flight]
            if hit:
                found.append((i, body, hit))
    return found


def main():
    lines = [l for l in open(sys.argv[1]) if re.search(r"/\*[0-9a-f]+\*/", l)]
    found = hazards(lines)
    for i, body, hit in found:
        print("line %d: %s writes R%s while an RS wgmma reads it" % (i, body, hit))
    print("%s: %d hazards" % (sys.argv[1], len(found)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
