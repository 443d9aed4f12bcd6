#!/bin/sh
# The installed systemd units pass `systemd-analyze verify`: every directive known, every
# dependency resolvable, every command executable, no group that may not exist.
#
# The units are installed into a private DESTDIR with the daemon.  verify checks that each
# Exec command exists on this machine, so the copy it reads has the DESTDIR put in front of
# the daemon's path; nothing else in it is changed.
#
# Environment: GW_UNITS_DESTDIR (an install of the units and the daemon), sbindir,
# systemdsystemunitdir.  Skipped where systemd-analyze is missing.
set -eu

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
: "${GW_UNITS_DESTDIR:?}" "${sbindir:?}" "${systemdsystemunitdir:?}"
dest=$GW_UNITS_DESTDIR
units=$dest$systemdsystemunitdir

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
for unit in gatewayd.service gatewayd@.service; do
	if [ ! -f "$units/$unit" ]; then
		echo "FAIL: $unit is not installed in $units"
		exit 1
	fi
	# verify wants an instance of a template.
	name=$unit
	[ "$unit" = gatewayd@.service ] && name=gatewayd@plant-a.service
	sed "s|$sbindir/gatewayd|$dest$sbindir/gatewayd|g" "$units/$unit" >"$tmp/$name"
	if out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1) && [ -z "$out" ]; then
		echo "ok: $unit"
	else
		echo "FAIL: $unit"
		echo "$out"
		fail=1
	fi
	# A group that does not exist stops systemd from starting the unit at all.
	if grep -q '^SupplementaryGroups=' "$units/$unit"; then
		echo "FAIL: $unit names SupplementaryGroups= (see systemd/gatewayd.sysusers)"
		fail=1
	fi
done
exit $fail
