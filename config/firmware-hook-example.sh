#!/bin/sh
# An example firmware_command for gatewayd (gatewayd.conf(5), FIRMWARE
# COMMAND HOOK): what a wrapper around a vendor's flasher looks like.
#
#   firmware_command = "/usr/share/doc/gatewayd/examples/firmware-hook-example.sh /srv/flash";
#
# It stands in for the flasher by copying the package into DEST_DIR as
# <device>.bin, in ten steps, reporting "progress N" after each; then it
# says the version the device now runs ("version X": here the package's, a
# real one would ask the device).  It checks the package's size and SHA-256
# first (exit 5: integrity check failed), and that DEST_DIR has room (exit
# 2: not enough storage).  Stopped by gatewayd (cancel, timeout), it removes
# what it had half written.  Everything comes from the GATEWAYD_*
# environment; only the destination is an argument.
set -eu

dest=${1:?usage: firmware-hook-example.sh DEST_DIR}
image=$GATEWAYD_IMAGE
part="$dest/.$GATEWAYD_DEVICE.part"

size=$(wc -c < "$image")
if [ "$size" -ne "$GATEWAYD_SIZE" ]; then
	echo "package is $size bytes, $GATEWAYD_SIZE expected" >&2
	exit 5
fi
sum=$(sha256sum < "$image")
sum=${sum%% *}
if [ "$sum" != "$GATEWAYD_SHA256" ]; then
	echo "package digest $sum, $GATEWAYD_SHA256 expected" >&2
	exit 5
fi
avail_kib=$(df -Pk "$dest" | awk 'NR == 2 { print $4 }')
if [ $(((size + 1023) / 1024)) -ge "$avail_kib" ]; then
	echo "no room for $size bytes in $dest" >&2
	exit 2
fi

trap 'rm -f "$part"; exit 1' TERM INT
: > "$part"
chunk=$(((size + 9) / 10))
i=0
while [ "$i" -lt 10 ]; do
	if [ "$chunk" -gt 0 ]; then
		dd if="$image" of="$part" bs="$chunk" skip="$i" seek="$i" count=1 \
			conv=notrunc status=none
	fi
	i=$((i + 1))
	echo "progress $((i * 10))"
done
mv "$part" "$dest/$GATEWAYD_DEVICE.bin"
echo "$GATEWAYD_DEVICE: $size bytes written" >&2
if [ -n "${GATEWAYD_PKG_VERSION:-}" ]; then
	echo "version $GATEWAYD_PKG_VERSION"
fi
exit 0
