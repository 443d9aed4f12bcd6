#!/bin/sh
# Build an adapter out of tree against the INSTALLED SDK (the header and
# gatewayd-adapter.pc, nothing from the source tree), then load it with the
# daemon's loader.
#
# Environment:
#   GW_SDK_DESTDIR  a DESTDIR the SDK has been installed into (skipped when unset)
#   top_srcdir      where hello.c is
#   top_builddir    where load-check was built
#   CC              compiler (default: cc)
set -eu

if [ -z "${GW_SDK_DESTDIR:-}" ] || [ ! -d "$GW_SDK_DESTDIR" ]; then
	echo "SKIP: GW_SDK_DESTDIR is not an installed SDK"
	exit 77
fi
: "${top_srcdir:?}" "${top_builddir:?}"
cc=${CC:-cc}

pc=$(find "$GW_SDK_DESTDIR" -name gatewayd-adapter.pc | head -n 1)
if [ -z "$pc" ]; then
	echo "FAIL: no gatewayd-adapter.pc under $GW_SDK_DESTDIR"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Only the installed .pc, its paths moved under DESTDIR; keep -I even when it
# is a system directory (prefix=/usr), because under DESTDIR it is not.
PKG_CONFIG_LIBDIR=$(dirname "$pc")
PKG_CONFIG_PATH=
PKG_CONFIG_SYSROOT_DIR=$GW_SDK_DESTDIR
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_ALLOW_SYSTEM_CFLAGS

cflags=$(pkg-config --cflags gatewayd-adapter)
case "$cflags" in
*"$GW_SDK_DESTDIR"*) ;;
*)
	echo "FAIL: pkg-config cflags '$cflags' do not point into $GW_SDK_DESTDIR"
	exit 1
	;;
esac
abi=$(pkg-config --variable=abi_major gatewayd-adapter)
if [ -z "$abi" ] || [ -z "$(pkg-config --variable=adapterdir gatewayd-adapter)" ]; then
	echo "FAIL: gatewayd-adapter.pc lacks abi_major or adapterdir"
	exit 1
fi

# shellcheck disable=SC2086 # cflags is a list of words
"$cc" -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -shared \
	-Wl,--no-undefined $cflags -o "$tmp/hello.so" "$top_srcdir/tests/out-of-tree/hello.c"

# The header must also build as strict C11 and as C++.
echo '#include <gatewayd/adapter.h>' >"$tmp/strict.c"
# shellcheck disable=SC2086
"$cc" -std=c11 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only "$tmp/strict.c"
if command -v c++ >/dev/null 2>&1; then
	cp "$tmp/strict.c" "$tmp/strict.cc"
	# shellcheck disable=SC2086
	c++ -Wall -Werror $cflags -fsyntax-only "$tmp/strict.cc"
fi

"$top_builddir/tests/out-of-tree/load-check" "$tmp" hello
