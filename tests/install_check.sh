#!/bin/sh
# `ninja run-install-test`: install into a temporary DESTDIR, then build and
# run a small C consumer with pkg-config (static link, CPU backend, so no GPU
# is needed) and one linked against the installed shared library.
#
#   usage: sh tests/install_check.sh CUDA_HOME [CC] [BUILDDIR]
set -eu
cuda_home=${1:?usage: install_check.sh CUDA_HOME [CC] [BUILDDIR]}
cc=${2:-cc}
builddir=${3:-build}
cd "$(dirname "$0")/.."

pkgconfig=$(command -v pkg-config || command -v pkgconf || true)
if [ -z "$pkgconfig" ]; then
  echo "install_check: pkg-config is not installed (Debian: apt-get install pkgconf)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flashattn-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=/usr/local
DESTDIR="$tmp/root" PREFIX=$prefix sh gen/install.sh "$cuda_home" "$builddir" >/dev/null
root=$tmp/root$prefix
for f in include/flashattn.h lib/libflashattn.a lib/libflashattn.so lib/pkgconfig/flashattn.pc; do
  [ -f "$root/$f" ] || { echo "install_check: $root/$f was not installed" >&2; exit 1; }
done
grep -q "^prefix=$prefix\$" "$root/lib/pkgconfig/flashattn.pc" ||
  { echo "install_check: flashattn.pc does not name prefix $prefix (DESTDIR leaked in?)" >&2; exit 1; }

cat >"$tmp/consumer.c" <<'C'
/* A consumer of the installed library: version check, then attention on the
 * CPU backend with q = k = v = 1.0 (fp16): every output element is 1.0. */
#include <flashattn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  enum { T = 24, H = 2, D = 64 };
  static uint16_t q[T * H * D], out[T * H * D];
  int32_t cu[3] = {0, 10, T};
  fa_fwd_params p = fa_fwd_params_default();
  fa_message msg;
  fa_status st;
  size_t i;
  if (fa_version_number() != FA_VERSION_NUMBER) {
    fprintf(stderr, "version mismatch: library %u, header %d\n", fa_version_number(), FA_VERSION_NUMBER);
    return 1;
  }
  for (i = 0; i < T * H * D; i++) q[i] = 0x3C00; /* fp16 1.0 */
  p.backend = FA_BACKEND_CPU;
  p.dtype = FA_DTYPE_FP16;
  p.batch = 2;
  p.num_heads_q = H, p.num_heads_k = H, p.head_dim = D;
  p.cu_seqlens_q = cu, p.cu_seqlens_k = cu;
  p.total_q = T, p.total_k = T;
  p.max_seqlen_q = 14, p.max_seqlen_k = 14;
  p.q = q, p.k = q, p.v = q, p.out = out;
  p.window_left = -1, p.window_right = 0;
  st = fa_fwd(&p, &msg);
  if (st != FA_OK) {
    fprintf(stderr, "fa_fwd: %s: %s\n", fa_status_string(st), msg.text);
    return 1;
  }
  for (i = 0; i < T * H * D; i++)
    if (out[i] != 0x3C00) {
      fprintf(stderr, "out[%zu] = 0x%04x, expected 0x3c00\n", i, out[i]);
      return 1;
    }
  printf("consumer: flashattn %s, %zu kernels, CPU attention ok\n", fa_version_string(), fa_kernel_count());
  return 0;
}
C

pc() { PKG_CONFIG_PATH="$root/lib/pkgconfig" "$pkgconfig" --define-variable=prefix="$root" "$@" flashattn; }
flags="$(pc --cflags) $(pc --libs)"
echo "install_check: pkg-config --cflags --libs flashattn: $flags" | sed "s|$tmp/root||g"
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" -std=c11 -Wall -Werror "$tmp/consumer.c" $flags -o "$tmp/consumer_static"
if readelf -d "$tmp/consumer_static" 2>/dev/null | grep -q 'NEEDED.*libflashattn'; then
  echo "install_check: the pkg-config link is not static (needs libflashattn.so)" >&2
  exit 1
fi
"$tmp/consumer_static"

"$cc" -std=c11 -Wall -Werror "$tmp/consumer.c" -I"$root/include" -L"$root/lib" -lflashattn \
  -Wl,-rpath,"$root/lib" -o "$tmp/consumer_shared"
readelf -d "$tmp/consumer_shared" | grep -q 'NEEDED.*libflashattn.so' ||
  { echo "install_check: the shared consumer does not use libflashattn.so" >&2; exit 1; }
"$tmp/consumer_shared" | sed 's/^consumer:/consumer (shared):/'
echo "install_check: ok (DESTDIR install, pkg-config static consumer, shared consumer)"
