#!/usr/bin/env python3
"""Write an MCUboot image: a firmware package the sim adapter takes (and the
format MCUboot devices boot).  Layout: a 32-byte header (magic 0x96f3b83d,
header size, image size, version major.minor.revision+build), the image
bytes, then the TLV area (magic 0x6907) holding the SHA-256 (type 0x10) of
header and image, which gatewayd checks before it forwards the package.

usage: mcuboot-image.py VERSION OUT [--size BYTES | --payload FILE]
  VERSION  major.minor.revision[+build], e.g. 2.0.0 or 1.4.3+7
"""
import argparse
import hashlib
import os
import re
import struct
import sys


def parse_version(text):
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:\+(\d+))?", text)
    if not m:
        raise ValueError("version must be major.minor.revision[+build]")
    major, minor, rev, build = (int(g) if g else 0 for g in m.groups())
    if major > 255 or minor > 255 or rev > 65535 or build > 0xFFFFFFFF:
        raise ValueError("version field out of range (255.255.65535+4294967295)")
    return major, minor, rev, build


def image(version, body):
    major, minor, rev, build = version
    header = struct.pack("<IIHHIIBBHII", 0x96F3B83D, 0, 32, 0, len(body), 0,
                         major, minor, rev, build, 0)
    digest = hashlib.sha256(header + body).digest()
    tlvs = struct.pack("<HH", 0x10, len(digest)) + digest
    return header + body + struct.pack("<HH", 0x6907, 4 + len(tlvs)) + tlvs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("version")
    ap.add_argument("out")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--size", type=int, default=65536,
                     help="bytes of generated image (default 65536)")
    src.add_argument("--payload", help="the image bytes, from a file")
    a = ap.parse_args()
    try:
        version = parse_version(a.version)
    except ValueError as e:
        sys.exit("mcuboot-image: %s" % e)
    if a.payload:
        with open(a.payload, "rb") as f:
            body = f.read()
    else:
        if a.size < 0:
            sys.exit("mcuboot-image: --size must not be negative")
        body = bytes((i * 31 + 7) & 0xFF for i in range(a.size))
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(image(version, body))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
