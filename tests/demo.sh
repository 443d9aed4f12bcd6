#!/bin/bash
# The built-in demo: the bundled test LwM2M server and gatewayd with three
# simulated devices (config/demo.conf) on loopback.  The terminal shows what
# the server sees; gatewayd's own log goes to a file.  Ctrl-C stops both
# (gatewayd de-registers its clients first).  DEMO_SECONDS=N stops by itself.
#
# Usage: tests/demo.sh BUILDDIR SRCDIR
set -euo pipefail
builddir=$(cd "${1:-.}" && pwd)
srcdir=$(cd "${2:-.}" && pwd)
server_bin="$builddir/tests/lwm2m-server/lwm2m-test-server"
gatewayd_bin="$builddir/gatewayd/gatewayd"
for b in "$server_bin" "$gatewayd_bin"; do
	[ -x "$b" ] || { echo "demo: $b is not built; run make first" >&2; exit 1; }
done

work=$(mktemp -d /tmp/gatewayd-demo-XXXXXX)
server_pid= gw_pid= cat_pid= fw_demo_pid=
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$fw_demo_pid" ] && kill -0 "$fw_demo_pid" 2>/dev/null; then
		kill "$fw_demo_pid" 2>/dev/null || true
		wait "$fw_demo_pid" 2>/dev/null || true
	fi
	if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
		kill -TERM "$gw_pid"
		wait "$gw_pid" 2>/dev/null || true
	fi
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		echo quit >&3 || true
		wait "$server_pid" 2>/dev/null || true
	fi
	[ -n "$cat_pid" ] && wait "$cat_pid" 2>/dev/null || true
	echo
	echo "demo: stopped.  gatewayd's log: $work/gatewayd.log"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The server's commands come through a FIFO we hold open, so it keeps
# running whatever our own stdin is; its output through another.
mkfifo "$work/ctl" "$work/out"
exec 3<>"$work/ctl"
"$server_bin" --demo -a 127.0.0.1 -p 0 <"$work/ctl" >"$work/out" 2>"$work/server.err" &
server_pid=$!
exec 4<"$work/out"
IFS= read -r first <&4
echo "$first"
port=${first##*:}
case "$port" in ''|*[!0-9]*) echo "demo: server did not start: $first" >&2; cat "$work/server.err" >&2; exit 1 ;; esac
cat <&4 &
cat_pid=$!

# The server's port, and a state directory of the demo's own (the relay keeps
# its firmware spool there).
sed -e "s|coap://127.0.0.1:5683|coap://127.0.0.1:$port|" \
	-e "s|log_level = \"info\";|log_level = \"info\"; state_dir = \"$work\";|" \
	"$srcdir/config/demo.conf" >"$work/demo.conf"
echo "[demo]   gatewayd -c config/demo.conf  (server port $port, log in $work/gatewayd.log)"
"$gatewayd_bin" -c "$work/demo.conf" -A "$builddir/adapters/.libs" --log-target stderr \
	2>"$work/gatewayd.log" &
gw_pid=$!

# The firmware part of the demo: once the relay has registered, the server
# pushes it a new firmware package (an MCUboot image, version 2.0.0) into its
# Object 5, watches the State, runs the Update and reads the version the relay
# runs afterwards.  DEMO_FIRMWARE=0 leaves it out.
firmware_demo() {
	local img="$work/relay-2.0.0.img" i
	python3 "$srcdir/tests/mcuboot-image.py" 2.0.0 "$img" --size 262144 || return 0
	for i in $(seq 1 60); do
		grep -q "relay-1: registered" "$work/gatewayd.log" 2>/dev/null && break
		sleep 0.5
	done
	sleep 4
	echo "[demo]   firmware: the server pushes relay-1 a package (2.0.0, 256 KiB) and updates it"
	echo "observe fw-state demo-relay-1 /5/0/3 text" >&3
	echo "push fw-push demo-relay-1 /5/0/0 $img size1" >&3
	sleep 3
	echo "execute fw-update demo-relay-1 /5/0/2" >&3
	sleep 8
	echo "read fw-result demo-relay-1 /5/0/5 text" >&3
	echo "read fw-version demo-relay-1 /3/0/3 text" >&3
}
if [ "${DEMO_FIRMWARE:-1}" != 0 ]; then
	firmware_demo &
	fw_demo_pid=$!
fi

if [ -n "${DEMO_SECONDS:-}" ]; then
	# Bounded run (CI, screenshots): end after DEMO_SECONDS or when gatewayd dies.
	timeout "$DEMO_SECONDS" tail --pid="$gw_pid" -f /dev/null || true
else
	echo "[demo]   Ctrl-C to stop"
	wait "$gw_pid" || true
fi
