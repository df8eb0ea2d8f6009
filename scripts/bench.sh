#!/bin/sh
# `make bench`: installs wrk if missing, then runs scripts/bench.py.
set -e
JKLG_BENCH=1 "$(dirname "$0")/deps.sh"
exec /usr/bin/python3 "$(dirname "$0")/bench.py"
