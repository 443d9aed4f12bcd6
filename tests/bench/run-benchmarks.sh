#!/bin/sh
# Run gatewayd's benchmark suite: make bench [BENCH_QUICK=1] [BENCH_ARGS='--runs 3 ...']
# usage: run-benchmarks.sh ABS_TOP_BUILDDIR ABS_TOP_SRCDIR
set -eu
top_builddir=$1
top_srcdir=$2
export top_builddir top_srcdir
GW_ADAPTER_DIR="$top_builddir/adapters/.libs"
export GW_ADAPTER_DIR

# gatewayd raises its soft open-file limit to the hard one; 10,000 devices need 10,000
# sockets.  Say so plainly here rather than as a failed run later.
need=10064
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ] && [ -z "${BENCH_QUICK:-}" ]; then
	echo "run-benchmarks: the open-file hard limit is $hard; the 10,000-device runs need" \
	     "$need. Raise it (ulimit -Hn $need as root, or LimitNOFILE= in a unit);" \
	     "those figures will be null." >&2
fi
ulimit -Sn "$hard" 2>/dev/null || true

args=${BENCH_ARGS:-}
if [ -n "${BENCH_QUICK:-}" ]; then
	args="--quick $args"
fi
# shellcheck disable=SC2086
exec "$top_builddir/tests/bench/bench" $args
