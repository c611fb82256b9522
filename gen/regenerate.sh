#!/bin/sh
# Called by ninja when gen/spec.py, the generator or a template changed.
# Rewrites generated/ and touches build.ninja so that ninja reloads it.
# A builder without Python/Jinja2 keeps the committed generated/ (with a
# warning) instead of failing: generated/ is committed for exactly that.
if python3 -c 'import jinja2' 2>/dev/null; then
  exec python3 gen/generate.py --touch build.ninja
fi
echo "warning: python3 with Jinja2 not found; using the committed generated/ as is" >&2
touch build.ninja
