#!/bin/sh
# Install the header, both libraries and a pkg-config file (what `ninja
# install` runs; ninja has no command-line variables, so the layout comes
# from the environment):
#
#   PREFIX   install prefix (default /usr/local)
#   DESTDIR  staging root prepended to every path (default empty)
#   LIBDIR   library directory (default $PREFIX/lib)
#   INCLUDEDIR  header directory (default $PREFIX/include)
#
#   usage: sh gen/install.sh CUDA_HOME [BUILDDIR]
#
# Installs $INCLUDEDIR/flashattn.h, $LIBDIR/libflashattn.a,
# $LIBDIR/libflashattn.so and $LIBDIR/pkgconfig/flashattn.pc. The .pc file
# describes the static link (the library's main use): `cc app.c $(pkg-config
# --cflags --libs flashattn)` links libflashattn.a (named with -l: so that the
# .so next to it is not picked) and the CUDA static runtime. For the shared
# library link with -L$LIBDIR -lflashattn (it carries its CUDA runtime).
set -eu
cuda_home=${1:?usage: install.sh CUDA_HOME [BUILDDIR]}
builddir=${2:-build}
cd "$(dirname "$0")/.."

prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
libdir=${LIBDIR:-$prefix/lib}
includedir=${INCLUDEDIR:-$prefix/include}
case "$prefix" in /*) ;; *) echo "install: PREFIX must be an absolute path, got '$prefix'" >&2; exit 1 ;; esac

for f in include/flashattn.h "$builddir/libflashattn.a" "$builddir/libflashattn.so"; do
  [ -f "$f" ] || { echo "install: $f is missing: run ninja first" >&2; exit 1; }
done

major=$(sed -n 's/^#define FA_VERSION_MAJOR \([0-9]*\).*/\1/p' include/flashattn.h)
minor=$(sed -n 's/^#define FA_VERSION_MINOR \([0-9]*\).*/\1/p' include/flashattn.h)
patch=$(sed -n 's/^#define FA_VERSION_PATCH \([0-9]*\).*/\1/p' include/flashattn.h)

# ${prefix}-relative spellings in the .pc file when the directories are under it
rel() { case "$1" in "$prefix"/*) echo "\${prefix}${1#"$prefix"}" ;; *) echo "$1" ;; esac; }

mkdir -p "$destdir$includedir" "$destdir$libdir/pkgconfig"
install -m 644 include/flashattn.h "$destdir$includedir/flashattn.h"
install -m 644 "$builddir/libflashattn.a" "$destdir$libdir/libflashattn.a"
install -m 755 "$builddir/libflashattn.so" "$destdir$libdir/libflashattn.so"
cat >"$destdir$libdir/pkgconfig/flashattn.pc" <<PC
prefix=$prefix
libdir=$(rel "$libdir")
includedir=$(rel "$includedir")
cudalibdir=$cuda_home/lib64

Name: flashattn
Description: Flash attention in C: CUDA kernels and a CPU backend (static library)
Version: $major.$minor.$patch
Cflags: -I\${includedir}
Libs: -L\${libdir} -l:libflashattn.a -L\${cudalibdir} -lcudart_static -lpthread -ldl -lrt -lm
PC
chmod 644 "$destdir$libdir/pkgconfig/flashattn.pc"
echo "install: $destdir$includedir/flashattn.h, $destdir$libdir/libflashattn.{a,so}, $destdir$libdir/pkgconfig/flashattn.pc"
