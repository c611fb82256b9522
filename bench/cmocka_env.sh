# Sourced (sh or bash) from the repository root: setup_cmocka makes cmocka's
# headers and library usable where the system lacks them, from the Debian
# packages in .deb/ (git-ignored; a fresh checkout gets them with
# `mkdir -p .deb && cd .deb && apt-get download libcmocka0 libcmocka-dev`,
# or, where this machine's apt cache holds them, `mkdir -p .deb && cp
# /var/cache/apt/archives/libcmocka*.deb .deb/`):
# device_common.sh's scripts on the device, ab_libs.sh's AB_BINS here.
setup_cmocka() {
  if ! echo '#include <cmocka.h>' | cc -E -x c - >/dev/null 2>&1 && [ -d .deb ]; then
    mkdir -p /tmp/cm && for f in .deb/*.deb; do timeout 20 dpkg -x "$f" /tmp/cm; done
    export CPATH=/tmp/cm/usr/include LIBRARY_PATH=/tmp/cm/usr/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH=/tmp/cm/usr/lib/x86_64-linux-gnu
  fi
}
