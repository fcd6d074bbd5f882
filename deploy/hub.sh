#!/bin/sh
# Start the class hub: `make hub`, or `sh deploy/hub.sh [jupyterhub options]`.
#
#   COURSE_ENV         the environment with the course installed (default: .venv)
#   COURSE_HUB_STATE   the hub's database, cookie secret, proxy pid (default: deploy/state)
#   COURSE_HUB_CONFIG  the configuration (default: deploy/jupyterhub_config.py;
#                      the class test uses deploy/jupyterhub_config_test.py)
#
# Options after the script go to jupyterhub and win over the file, e.g.
# --JupyterHub.bind_url=http://127.0.0.1:8000 or --debug.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
COURSE_ENV=${COURSE_ENV:-$repo/.venv}
COURSE_HUB_STATE=${COURSE_HUB_STATE:-$here/state}
COURSE_HUB_CONFIG=${COURSE_HUB_CONFIG:-$here/jupyterhub_config.py}
export COURSE_ENV COURSE_HUB_STATE

if [ ! -x "$COURSE_ENV/bin/jupyterhub" ]; then
    echo "no JupyterHub in $COURSE_ENV: run make hub-install (or sh deploy/install.sh)" >&2
    exit 2
fi
if [ ! -x "$here/node_modules/.bin/configurable-http-proxy" ] \
    && ! command -v configurable-http-proxy >/dev/null 2>&1; then
    echo "no configurable-http-proxy: run make hub-install (it needs Node.js and npm)" >&2
    exit 2
fi

mkdir -p "$COURSE_HUB_STATE"
chmod 700 "$COURSE_HUB_STATE"
cd "$COURSE_HUB_STATE"
exec "$COURSE_ENV/bin/jupyterhub" -f "$COURSE_HUB_CONFIG" "$@"
