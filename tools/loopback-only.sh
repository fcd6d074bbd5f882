#!/bin/sh
# Run a command in a new network namespace where only loopback is up, when this
# runner can make one (root on Linux with unshare and ip); otherwise run it as is.
# `make test` runs the whole test suite through this, after installation.
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] \
    && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
    && unshare -n true 2>/dev/null; then
    echo "running in a network namespace with only loopback: $*" >&2
    exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$@"
fi
exec "$@"
