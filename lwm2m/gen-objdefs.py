#!/usr/bin/env python3
"""Generate lwm2m/objdefs_table.c from OMA LwM2M DDF files.

usage: gen-objdefs.py [--exclude IDS] REGISTRY_DIR > lwm2m/objdefs_table.c

Reads every *.xml in REGISTRY_DIR and emits only facts (ids, short names,
types, operations, multiplicity, units, numeric ranges, versions, URNs);
descriptions stay out of the generated table.

--exclude IDS  comma-separated object ids to leave out of the table instead
               of DEFAULT_EXCLUDE ("" to leave nothing out).
"""

import argparse
import math
import os
import re
import sys
import xml.etree.ElementTree as ET

TYPES = {
    "": "LWM_T_NONE",
    "none": "LWM_T_NONE",
    "string": "LWM_T_STRING",
    "integer": "LWM_T_INTEGER",
    "unsignedinteger": "LWM_T_UNSIGNED",
    "float": "LWM_T_FLOAT",
    "boolean": "LWM_T_BOOLEAN",
    "opaque": "LWM_T_OPAQUE",
    "time": "LWM_T_TIME",
    "objlnk": "LWM_T_OBJLNK",
    "corelnk": "LWM_T_CORELNK",
}
NUMERIC = {"LWM_T_INTEGER", "LWM_T_UNSIGNED", "LWM_T_FLOAT", "LWM_T_TIME"}

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
# "0..100", "1...63" (a typo in some files), "0.00..100.00", "-158..-44", "1-5"
RANGE_RE = re.compile(r"(%s)\s*(?:\.{2,3}|-)\s*(%s)" % (NUM, NUM))


# Objects the built-in table leaves out.  OMA's test objects exist for
# conformance labs and interoperability events; a gateway in the field has no
# device that maps onto them, and having them built in would let a
# configuration point at them by mistake.  A user who does need one drops its
# DDF file into gatewayd's models directory (models_dir in gatewayd.conf),
# from where it is loaded at run time like any vendor object.
DEFAULT_EXCLUDE = {
    3441: "LwM2M v1.0 Test Object",
    3442: "LwM2M v1.1 Test Object",
}


class DdfError(Exception):
    pass


def text(elem, tag):
    """Stripped text of a child element, "" when absent or empty."""
    child = elem.find(tag)
    if child is None or child.text is None:
        return ""
    return child.text.strip()


def one_line(s):
    """Collapse whitespace runs (names in some files carry odd spacing)."""
    return " ".join(s.split())


def c_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append("\\%03o" % o)
        elif o < 0x80:
            out.append(ch)
        else:
            # Octal escapes of the UTF-8 bytes: safe whatever follows them.
            out.extend("\\%03o" % b for b in ch.encode("utf-8"))
    out.append('"')
    return "".join(out)


def c_double(x):
    r = repr(float(x))
    return r if ("." in r or "e" in r) else r + ".0"


def parse_id(s, what, limit=65534):
    s = s.strip()
    if not re.fullmatch(r"\d+", s) or int(s) > limit:
        raise DdfError("bad %s %r" % (what, s))
    return int(s)


def parse_type(s, where):
    key = re.sub(r"\s+", "", s).lower()
    if key not in TYPES:
        raise DdfError("%s: unknown type %r" % (where, s))
    return TYPES[key]


def parse_ops(s, where):
    ops = re.sub(r"\s+", "", s).upper()
    if ops in ("", "NONE"):
        return []
    if not re.fullmatch(r"R?W?E?", ops):
        raise DdfError("%s: bad operations %r" % (where, s))
    return ["LWM_OP_" + c for c in ops]


def parse_multiple(s, where):
    v = s.strip().lower()
    if v in ("multiple", "true"):
        return True
    if v in ("single", "false", ""):
        return False
    raise DdfError("%s: bad MultipleInstances %r" % (where, s))


def parse_mandatory(s, where):
    v = s.strip().lower()
    if v in ("mandatory", "true"):
        return True
    if v in ("optional", "false", ""):
        return False
    raise DdfError("%s: bad Mandatory %r" % (where, s))


def parse_range(s):
    m = RANGE_RE.fullmatch(s.strip())
    if not m:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    return lo, hi


def parse_file(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DdfError("%s: %s" % (path, e))
    objs = root.findall("Object")
    if len(objs) != 1:
        raise DdfError("%s: expected one <Object>, found %d" % (path, len(objs)))
    o = objs[0]
    oid = parse_id(text(o, "ObjectID"), "ObjectID")
    where = "%s (object %d)" % (path, oid)
    obj = {
        "id": oid,
        "name": one_line(text(o, "Name")),
        "version": re.sub(r"\s+", "", text(o, "ObjectVersion")) or "1.0",
        "urn": re.sub(r"\s+", "", text(o, "ObjectURN")),
        "multiple": parse_multiple(text(o, "MultipleInstances"), where),
        "mandatory": parse_mandatory(text(o, "Mandatory"), where),
        "res": [],
    }
    if not re.fullmatch(r"\d+\.\d+", obj["version"]):
        raise DdfError("%s: bad ObjectVersion %r" % (where, obj["version"]))
    resources = o.find("Resources")
    seen = set()
    for item in resources.findall("Item") if resources is not None else []:
        rid = parse_id(item.get("ID", ""), "%s resource ID" % where)
        rwhere = "%s resource %d" % (where, rid)
        if rid in seen:
            raise DdfError("%s: duplicate resource" % rwhere)
        seen.add(rid)
        rtype = parse_type(text(item, "Type"), rwhere)
        rng = parse_range(text(item, "RangeEnumeration")) if rtype in NUMERIC else None
        obj["res"].append({
            "id": rid,
            "name": one_line(text(item, "Name")),
            "type": rtype,
            "ops": parse_ops(text(item, "Operations"), rwhere),
            "multiple": parse_multiple(text(item, "MultipleInstances"), rwhere),
            "mandatory": parse_mandatory(text(item, "Mandatory"), rwhere),
            "units": one_line(text(item, "Units")),
            "range": rng,
        })
    obj["res"].sort(key=lambda r: r["id"])
    return obj


def c_bool(b):
    return "true" if b else "false"


def emit(objs, out):
    w = out.write
    w("/* Generated by lwm2m/gen-objdefs.py from the OMA LwM2M registry's DDF files\n"
      " * (OMA LwM2M Registry, BSD-3-Clause, (c) Open Mobile Alliance).\n"
      " * Do not edit: regenerate with `make regen-objdefs`. */\n")
    w('#include "objdefs.h"\n\n')
    w("/* Resource fields: id, type, ops, multiple, mandatory, name, units,\n"
      " * has_range, range_min, range_max. */\n")
    for o in objs:
        if not o["res"]:
            continue
        w("static const struct lwm_res_def res_%d[] = {\n" % o["id"])
        for r in o["res"]:
            ops = " | ".join(r["ops"]) or "0"
            if r["range"]:
                rng = "true, %s, %s" % (c_double(r["range"][0]), c_double(r["range"][1]))
            else:
                rng = "false, 0, 0"
            w("\t{%d, %s, %s, %s, %s, %s, %s, %s},\n" % (
                r["id"], r["type"], ops, c_bool(r["multiple"]), c_bool(r["mandatory"]),
                c_string(r["name"]), c_string(r["units"]), rng))
        w("};\n\n")
    w("const struct lwm_obj_def lwm_builtin_objdefs[] = {\n")
    for o in objs:
        res = "res_%d" % o["id"] if o["res"] else "NULL"
        w("\t{%d, %s, %s, %s, %s, %s, %d, %s},\n" % (
            o["id"], c_string(o["name"]), c_string(o["version"]), c_string(o["urn"]),
            c_bool(o["multiple"]), c_bool(o["mandatory"]), len(o["res"]), res))
    w("};\n\n")
    w("const size_t lwm_builtin_objdefs_count =\n"
      "\tsizeof(lwm_builtin_objdefs) / sizeof(lwm_builtin_objdefs[0]);\n")


def parse_exclude(s):
    ids = set()
    for part in s.split(","):
        if part.strip():
            ids.add(parse_id(part, "--exclude id"))
    return ids


def main(argv):
    ap = argparse.ArgumentParser(prog=os.path.basename(argv[0]),
                                 description="Generate lwm2m/objdefs_table.c.")
    ap.add_argument("--exclude", metavar="IDS",
                    default=",".join(str(k) for k in sorted(DEFAULT_EXCLUDE)),
                    help="comma-separated object ids to leave out "
                         "(default: OMA's test objects, %(default)s)")
    ap.add_argument("registry", metavar="REGISTRY_DIR")
    args = ap.parse_args(argv[1:])
    objs = {}
    try:
        exclude = parse_exclude(args.exclude)
        files = sorted(f for f in os.listdir(args.registry) if f.endswith(".xml"))
        for f in files:
            obj = parse_file(os.path.join(args.registry, f))
            if obj["id"] in objs:
                raise DdfError("%s: object %d defined twice" % (f, obj["id"]))
            objs[obj["id"]] = obj
    except (DdfError, OSError) as e:
        sys.stderr.write("gen-objdefs: %s\n" % e)
        return 1
    # Excluding an id the registry does not have is most likely a typo.
    missing = sorted(exclude - set(objs))
    if missing:
        sys.stderr.write("gen-objdefs: --exclude: no such object in %s: %s\n"
                         % (args.registry, ", ".join(map(str, missing))))
        return 1
    for k in exclude:
        del objs[k]
    if not objs:
        sys.stderr.write("gen-objdefs: no objects left from %s\n" % args.registry)
        return 1
    emit([objs[k] for k in sorted(objs)], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
