"""A pynetdicom storage SCU for corelab's tests: one association per file, one JSON line per file.

usage: scu.py PORT CALLING CALLED [--echo] [--fill] [--set GGGG,EEEE=VALUE ...] [FILE ...]

--fill gives an object the Patient ID, Study and Series Instance UIDs and Modality it lacks.

Each line: {"file", "accepted", "status", "comment", "error", "transfer_syntax"}. `accepted` is false when the
association was rejected (then "error" says why); `status` is the C-STORE (or C-ECHO) status, or
null when nothing was sent (a file the client cannot read, a rejected association).
"""

import json
import sys

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.tag import Tag
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification


def main(argv):
    port, calling, called, *rest = argv
    echo = False
    fill = False
    sets = []
    files = []
    it = iter(rest)
    for a in it:
        if a == "--echo":
            echo = True
        elif a == "--fill":
            fill = True
        elif a == "--set":
            tag, value = next(it).split("=", 1)
            g, e = tag.split(",")
            sets.append((Tag(int(g, 16), int(e, 16)), value))
        else:
            files.append(a)
    if echo:
        report("echo", *exchange(port, calling, called, None))
    for f in files:
        try:
            ds = dcmread(f)
            for tag, value in sets:
                ds.add_new(tag, dictionary_VR(tag), value)
            if fill:
                for keyword, value in [("PatientID", "FILLED"), ("StudyInstanceUID", generate_uid()),
                                       ("SeriesInstanceUID", generate_uid()), ("Modality", "OT")]:
                    if not ds.get(keyword):
                        setattr(ds, keyword, value)
        except Exception as e:  # the client cannot send what it cannot read
            report(f, None, None, None, f"client cannot read: {e}")
            continue
        report(f, *exchange(port, calling, called, ds), ts=str(ds.file_meta.get("TransferSyntaxUID", "")))


def exchange(port, calling, called, ds):
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    if ds is None:
        ae.add_requested_context(Verification)
    else:
        try:
            ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
        except Exception as e:  # no SOP class or transfer syntax to propose
            return None, None, None, f"not sent: {e}"
    assoc = ae.associate("127.0.0.1", int(port), ae_title=called)
    if not assoc.is_established:
        why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "failed"
        return False, None, None, why
    try:
        rsp = assoc.send_c_echo() if ds is None else assoc.send_c_store(ds)
        if not rsp:
            return True, None, None, "no response (association aborted or timed out)"
        comment = rsp.get("ErrorComment")
        return True, int(rsp.Status), str(comment) if comment else None, None
    except Exception as e:  # no accepted context, a data set pynetdicom cannot encode
        return True, None, None, f"not sent: {e}"
    finally:
        if assoc.is_established:
            assoc.release()


def report(f, accepted, status, comment, error, ts=None):
    print(json.dumps({"file": f, "accepted": accepted, "status": status, "comment": comment,
                      "error": error, "transfer_syntax": ts}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
