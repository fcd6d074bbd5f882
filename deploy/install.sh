#!/bin/sh
# Install what the class hub needs: the proxy from npm (pinned in deploy/package-lock.json,
# into deploy/node_modules) and, when COURSE_ENV names a folder without an environment,
# the course's environment there (requirements.txt, then the course itself).
#
#   sh deploy/install.sh                          # proxy only; the course is in .venv (make)
#   sudo COURSE_ENV=/opt/course sh deploy/install.sh   # a class machine: its own environment
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
COURSE_ENV=${COURSE_ENV:-$repo/.venv}
PYTHON=${PYTHON:-python3}

if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm)" >&2
    exit 2
fi
# npm ci starts from nothing each time: run it only when the pinned proxy is not there yet.
pinned=$(node -p "require('$here/package.json').dependencies['configurable-http-proxy']")
proxy="$here/node_modules/.bin/configurable-http-proxy"
if [ ! -x "$proxy" ] || [ "$("$proxy" --version)" != "$pinned" ]; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi

if [ ! -x "$COURSE_ENV/bin/python" ]; then
    "$PYTHON" -m venv "$COURSE_ENV"
    "$COURSE_ENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$repo/requirements.txt"
    # Editable, from this checkout (keep it in place, writable by the teacher only): the
    # environment check of 00 Start here compares the packages with requirements.txt beside
    # helpers/. Students' own copies (nbgitpuller's, in their homes) never change it.
    "$COURSE_ENV/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps -e "$repo"
fi
"$COURSE_ENV/bin/python" -c "import helpers, jupyterhub, nbgitpuller, jupyterhub_idle_culler"
echo "class hub installed: proxy $("$proxy" --version), course environment $COURSE_ENV"
