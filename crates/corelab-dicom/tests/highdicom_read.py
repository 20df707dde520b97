"""Reads corelab's SEG and SR objects back with highdicom and compares them with what the Rust
test (`seg_sr_export.rs`) wrote, given as a JSON file of expectations.

Usage: python3 highdicom_read.py seg EXPECTED.json SEG.dcm
       python3 highdicom_read.py sr EXPECTED.json SR.dcm

Needs highdicom==0.28.2 (with pydicom==3.0.2, numpy). Exits non-zero with the first difference.
"""

import json
import math
import sys

try:
    import highdicom as hd
    import numpy as np
except ImportError as e:  # pragma: no cover - environment check
    sys.exit(f"highdicom is missing ({e}): python3 -m pip install highdicom==0.28.2 pydicom==3.0.2")


def check(cond, what):
    if not cond:
        sys.exit(f"MISMATCH: {what}")


def code_tuple(c):
    return [str(c.value), str(c.scheme_designator), str(c.meaning)]


def seg(expected, path):
    s = hd.seg.segread(path)
    check(str(s.SegmentationType) == expected["type"], f"type {s.SegmentationType}")
    check(s.number_of_segments == len(expected["segments"]), f"{s.number_of_segments} segments")
    uids = expected["source_uids"]
    check(
        sorted(u for _, _, u in s.get_source_image_uids()) == sorted(uids),
        "source image UIDs",
    )
    rows, cols = expected["rows"], expected["columns"]
    for e in expected["segments"]:
        n = e["number"]
        d = s.get_segment_description(n)
        check(d.segment_label == e["label"], f"segment {n} label {d.segment_label}")
        check(getattr(d.algorithm_type, "value", d.algorithm_type) == "AUTOMATIC", f"segment {n} algorithm type")
        alg = d.algorithm_identification
        check(alg is not None and alg[0].AlgorithmName == e["algorithm"], f"segment {n} algorithm")
        check(alg[0].AlgorithmVersion == e["version"], f"segment {n} algorithm version")
        check(code_tuple(d.segmented_property_type) == e["type_code"], f"segment {n} type code")
        check(code_tuple(d.segmented_property_category) == e["category"], f"segment {n} category")
        pixels = s.get_pixels_by_source_instance(
            source_sop_instance_uids=uids,
            segment_numbers=[n],
            rescale_fractional=False,
            dtype=np.uint8,
        )
        check(pixels.shape == (len(uids), rows, cols, 1), f"segment {n} shape {pixels.shape}")
        want = np.zeros((len(uids), rows, cols), np.uint8)
        for k, flat, value in e["pixels"]:
            want[k].flat[flat] = value
        got = pixels[..., 0]
        diff = np.argwhere(got != want)
        check(
            diff.size == 0,
            f"segment {n}: {len(diff)} pixels differ, first {diff[:3].tolist()}",
        )
        print(f"segment {n} ({e['label']}): {np.count_nonzero(got)} nonzero pixels agree")
    print("SEG OK")


def sr(expected, path):
    doc = hd.sr.srread(path)
    check(type(doc).__name__ == "Comprehensive3DSR", f"SR class {type(doc).__name__}")
    report = hd.sr.MeasurementReport.from_sequence([doc])
    groups = list(report.get_volumetric_roi_measurement_groups()) + list(
        report.get_image_measurement_groups()
    )
    check(len(groups) == len(expected["groups"]), f"{len(groups)} groups")
    by_id = {g.tracking_identifier: g for g in groups}
    for e in expected["groups"]:
        g = by_id.get(e["tracking_id"])
        check(g is not None, f"group {e['tracking_id']} not found among {list(by_id)}")
        check(g.tracking_uid == e["tracking_uid"], f"{e['tracking_id']} tracking UID")
        check(code_tuple(g.finding_type) == e["finding"], f"{e['tracking_id']} finding")
        sites = [code_tuple(s.value) for s in g.finding_sites]
        check(sites == ([e["finding_site"]] if e["finding_site"] else []), f"{e['tracking_id']} sites {sites}")
        if e["segment"]:
            ref = g.referenced_segment
            check(ref is not None, f"{e['tracking_id']}: no referenced segment")
            check(
                ref.referenced_segment_numbers == [e["segment"][1]]
                and ref.referenced_sop_instance_uid == e["segment"][0],
                f"{e['tracking_id']} referenced segment",
            )
            series = ref.source_series_for_segmentation
            check(series is not None and series.value == expected["source_series"], "source series")
        ms = g.get_measurements()
        check(len(ms) == len(e["measurements"]), f"{e['tracking_id']}: {len(ms)} measurements")
        for m, w in zip(ms, e["measurements"]):
            check(code_tuple(m.name) == w["concept"], f"measurement {code_tuple(m.name)}")
            check(math.isclose(m.value, w["value"], rel_tol=0, abs_tol=0), f"value {m.value} vs {w['value']}")
            check(code_tuple(m.unit) == w["unit"], f"unit {code_tuple(m.unit)}")
            got = code_tuple(m.derivation) if m.derivation is not None else None
            check(got == w["derivation"], f"derivation {got}")
        print(f"group {e['tracking_id']}: {len(ms)} measurements agree")
    library = []
    for item in doc.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == "111028":
            for grp in item.ContentSequence:
                for it in grp.ContentSequence:
                    if it.ValueType == "IMAGE":
                        library.append(str(it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
    check(library == expected["source_uids"], "image library")
    print("SR OK")


if __name__ == "__main__":
    kind, expected_path, path = sys.argv[1:4]
    with open(expected_path) as f:
        expected = json.load(f)
    {"seg": seg, "sr": sr}[kind](expected, path)
