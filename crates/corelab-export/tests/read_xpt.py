#!/usr/bin/env python3
"""The oracle of corelab-export's SDTM package test: reads every .xpt of a directory with
pyreadstat (read_xport) and with pandas (read_sas, format="xport"), parses define.xml with
xml.etree, and prints one JSON document of what they found, which the Rust test compares with
what it wrote.

Usage: read_xpt.py DIR
Needs: pip install pyreadstat pandas   (exit status 3 with a message when either is missing)
"""

import json
import math
import os
import sys
import xml.etree.ElementTree as ET

try:
    import pandas
    import pyreadstat
except ImportError as e:  # the Rust test shows this message
    sys.stderr.write(
        f"read_xpt.py: {e}. Install the readers: python3 -m pip install pyreadstat pandas\n"
    )
    sys.exit(3)

NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.0",
    "xlink": "http://www.w3.org/1999/xlink",
}


def cell(v):
    """A value as JSON holds it: text as text, numbers as numbers, missing as null."""
    if isinstance(v, bytes):
        v = v.decode("ascii")
    if isinstance(v, str):
        return v.rstrip(" ")
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return None if math.isnan(f) else f


def read_pyreadstat(path):
    df, meta = pyreadstat.read_xport(path)
    return {
        "table_name": meta.table_name,
        "file_label": meta.file_label,
        "columns": list(meta.column_names),
        "labels": [l if l is not None else "" for l in meta.column_labels],
        "rows": int(meta.number_rows) if meta.number_rows is not None else len(df),
        "types": {c: ("Num" if meta.readstat_variable_types[c] == "double" else "Char")
                  for c in meta.column_names},
        "values": {c: [cell(v) for v in df[c].tolist()] for c in df.columns},
    }


def read_pandas(path):
    df = pandas.read_sas(path, format="xport", encoding="ascii")
    return {
        "columns": [str(c) for c in df.columns],
        "rows": len(df),
        "values": {str(c): [cell(v) for v in df[c].tolist()] for c in df.columns},
    }


def read_define(path, directory):
    tree = ET.parse(path)
    root = tree.getroot()
    errors = []
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    if mdv is None:
        return {"errors": ["no Study/MetaDataVersion"], "datasets": {}}
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    codelists = {c.get("OID"): c for c in mdv.findall("odm:CodeList", NS)}
    datasets = {}
    for ig in mdv.findall("odm:ItemGroupDef", NS):
        name = ig.get("Name")
        for attr in ("Domain", "SASDatasetName", "Repeating", "Purpose"):
            if not ig.get(attr):
                errors.append(f"{name}: ItemGroupDef without {attr}")
        for attr in ("Structure", "Class", "ArchiveLocationID"):
            if not ig.get(f"{{{NS['def']}}}{attr}"):
                errors.append(f"{name}: ItemGroupDef without def:{attr}")
        leaf = ig.find("def:leaf", NS)
        href = leaf.get(f"{{{NS['xlink']}}}href") if leaf is not None else None
        if href is None or not os.path.exists(os.path.join(directory, href)):
            errors.append(f"{name}: def:leaf {href!r} is not a file of the package")
        if leaf is not None and leaf.get("ID") != ig.get(f"{{{NS['def']}}}ArchiveLocationID"):
            errors.append(f"{name}: def:leaf ID is not the ArchiveLocationID")
        variables, labels, orders, lists = [], [], [], {}
        for ref in ig.findall("odm:ItemRef", NS):
            item = items.get(ref.get("ItemOID"))
            if item is None:
                errors.append(f"{name}: ItemRef {ref.get('ItemOID')} has no ItemDef")
                continue
            if ref.get("Mandatory") not in ("Yes", "No"):
                errors.append(f"{name}: ItemRef {ref.get('ItemOID')} Mandatory")
            orders.append(int(ref.get("OrderNumber")))
            variables.append(item.get("Name"))
            if item.get("SASFieldName") != item.get("Name"):
                errors.append(f"{name}.{item.get('Name')}: SASFieldName differs")
            if item.get("DataType") not in ("text", "integer", "float", "datetime"):
                errors.append(f"{name}.{item.get('Name')}: DataType {item.get('DataType')}")
            if item.get("DataType") == "text" and not item.get("Length"):
                errors.append(f"{name}.{item.get('Name')}: text without Length")
            if item.find("def:Origin", NS) is None:
                errors.append(f"{name}.{item.get('Name')}: no def:Origin")
            text = item.find("odm:Description/odm:TranslatedText", NS)
            labels.append(text.text if text is not None and text.text else "")
            cl_ref = item.find("odm:CodeListRef", NS)
            if cl_ref is not None:
                cl = codelists.get(cl_ref.get("CodeListOID"))
                if cl is None:
                    errors.append(f"{name}.{item.get('Name')}: CodeListRef without CodeList")
                else:
                    lists[item.get("Name")] = [
                        i.get("CodedValue") for i in cl.findall("odm:CodeListItem", NS)
                    ]
        if orders != list(range(1, len(orders) + 1)):
            errors.append(f"{name}: OrderNumbers {orders}")
        datasets[name] = {
            "label": (ig.find("odm:Description/odm:TranslatedText", NS).text or ""),
            "leaf": href,
            "variables": variables,
            "labels": labels,
            "codelists": lists,
        }
    return {
        "odm_version": root.get("ODMVersion"),
        "define_version": mdv.get(f"{{{NS['def']}}}DefineVersion"),
        "study": root.find("odm:Study/odm:GlobalVariables/odm:StudyName", NS).text,
        "datasets": datasets,
        "errors": errors,
    }


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: read_xpt.py DIR\n")
        sys.exit(2)
    directory = sys.argv[1]
    out = {"pyreadstat": {}, "pandas": {}, "versions": {
        "pyreadstat": pyreadstat.__version__, "pandas": pandas.__version__}}
    for f in sorted(os.listdir(directory)):
        if f.endswith(".xpt"):
            path = os.path.join(directory, f)
            out["pyreadstat"][f] = read_pyreadstat(path)
            out["pandas"][f] = read_pandas(path)
    out["define"] = read_define(os.path.join(directory, "define.xml"), directory)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
