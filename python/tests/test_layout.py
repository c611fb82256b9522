"""The ctypes structs of flashattn/_native.py against include/flashattn.h.

1. Field names and order, parsed from the header (pure Python).
2. sizeof / offsetof / field sizes and the enum values, printed by a small C
   program compiled with $CC (default cc) against the header. Skipped when
   no C compiler is found (CI has one).
"""
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_layout.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import REPO, _native as N  # noqa: E402

HEADER = os.path.join(REPO, "include", "flashattn.h")


def header_fields():
    """{struct name: [field, ...]} of every `typedef struct NAME {...} NAME;` in the header."""
    with open(HEADER) as fh:
        text = fh.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    out = {}
    for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            first, *rest = decl.split(",")
            names = [first] + rest
            for n in names:
                n = re.sub(r"\[.*?\]", "", n).strip()
                fields.append(re.findall(r"\w+", n)[-1])
        out[m.group(3)] = fields
    return out


def header_constants():
    """Names of every enum constant and every numeric FA_ macro of the header."""
    with open(HEADER) as fh:
        text = fh.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names = set()
    for m in re.finditer(r"typedef\s+enum\s+\w+\s*\{(.*?)\}", text, flags=re.S):
        for item in m.group(1).split(","):
            item = item.strip()
            if item:
                names.add(re.match(r"(\w+)", item).group(1))
    for m in re.finditer(r"^#define\s+(FA_\w+)\s+\(?-?\d+\)?\s*$", text, flags=re.M):
        names.add(m.group(1))
    return names


class LayoutNames(unittest.TestCase):
    def test_every_constant_is_mirrored(self):
        missing = sorted(header_constants() - set(N.CONSTANTS))
        self.assertEqual(missing, [], "enum constants / macros of flashattn.h without a mirror in _native.py")

    def test_sizes_of_this_layout(self):
        for cls, cname in N.STRUCTS:
            sizes = [N.CONSTANTS[m] for m in ("FA_%s_SIZE_V0_%d" % (cname[3:].upper(), v) for v in (2, 3, 4))
                     if m in N.CONSTANTS]
            if sizes:  # the newest layout is this binding's
                self.assertEqual(ctypes.sizeof(cls), max(sizes), cname)
            if any(f == "struct_size" for f, _ in cls._fields_) and cls is not N.Context:
                self.assertEqual(cls().struct_size, ctypes.sizeof(cls), "%s() sets struct_size" % cls.__name__)

    def test_field_names_and_order(self):
        fields = header_fields()
        for cls, cname in N.STRUCTS:
            self.assertIn(cname, fields, "%s is not a struct of the header" % cname)
            self.assertEqual([f for f, _ in cls._fields_], fields[cname], "field list of %s" % cname)

    def test_every_params_struct_is_mirrored(self):
        mirrored = {c for _, c in N.STRUCTS}
        for cname in header_fields():
            self.assertIn(cname, mirrored, "%s has no ctypes mirror in _native.py" % cname)


def find_cc():
    cc = os.environ.get("CC", "cc")
    return cc if shutil.which(cc) else None


@unittest.skipIf(find_cc() is None, "no C compiler ($CC or cc)")
class LayoutCompiled(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "flashattn.h"', "int main(void) {"]
        for klass, cname in N.STRUCTS:
            lines.append('  printf("size %s %%zu\\n", sizeof(%s));' % (cname, cname))
            for f, _ in klass._fields_:
                lines.append('  printf("offset %s %s %%zu\\n", offsetof(%s, %s));' % (cname, f, cname, f))
                lines.append('  printf("fsize %s %s %%zu\\n", sizeof(((%s *)0)->%s));' % (cname, f, cname, f))
        for name in N.CONSTANTS:
            lines.append('  printf("const %s %%lld\\n", (long long)(%s));' % (name, name))
        lines += ["  return 0;", "}"]
        tmp = tempfile.mkdtemp(prefix="flashattn-layout-")
        try:
            src, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
            with open(src, "w") as fh:
                fh.write("\n".join(lines) + "\n")
            subprocess.run([find_cc(), "-std=c11", "-I", os.path.join(REPO, "include"), src, "-o", exe],
                           check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            res = subprocess.run([exe], check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        cls.values = {}
        for line in res.splitlines():
            *key, val = line.split()
            cls.values[tuple(key)] = int(val)

    def test_struct_sizes(self):
        for cls, cname in N.STRUCTS:
            self.assertEqual(ctypes.sizeof(cls), self.values[("size", cname)], "sizeof(%s)" % cname)

    def test_field_offsets_and_sizes(self):
        for cls, cname in N.STRUCTS:
            for f, _ in cls._fields_:
                desc = getattr(cls, f)
                self.assertEqual(desc.offset, self.values[("offset", cname, f)], "offsetof(%s, %s)" % (cname, f))
                self.assertEqual(desc.size, self.values[("fsize", cname, f)], "sizeof(%s.%s)" % (cname, f))

    def test_constants(self):
        for name, val in N.CONSTANTS.items():
            self.assertEqual(val, self.values[("const", name)], name)


if __name__ == "__main__":
    unittest.main()
