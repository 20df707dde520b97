"""corelab's DICOMweb against dicomweb-client (PyPI), the reference Python client.

Usage: dwc.py URL TOKEN FILE...   (URL: the trial's DICOMweb root, TOKEN: a bearer token)
Stores FILE... with STOW-RS, finds them with QIDO-RS, and reads them back with WADO-RS (metadata,
a frame, the instance). Prints one JSON line with what it found; exits non-zero on any failure.
"""

import json
import sys

import pydicom
from dicomweb_client.api import DICOMwebClient

url, token, files = sys.argv[1], sys.argv[2], sys.argv[3:]
client = DICOMwebClient(url=url, headers={"Authorization": f"Bearer {token}"})

datasets = [pydicom.dcmread(f) for f in files]
stored = client.store_instances(datasets=datasets)
refs = stored.ReferencedSOPSequence
assert len(refs) == len(files), stored

patient = datasets[0].PatientID  # the original ID: de-identified on the way in
studies = client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"})
found = [s for s in studies if s["00201208"]["Value"][0] == len(files)]
assert found, studies
study_uid = found[0]["0020000D"]["Value"][0]
subject = found[0]["00100020"]["Value"][0]
assert subject != patient, "the Patient ID was replaced by the subject"

series = client.search_for_series(study_instance_uid=study_uid)
assert len(series) == 1, series
series_uid = series[0]["0020000E"]["Value"][0]
instances = client.search_for_instances(
    study_instance_uid=study_uid, series_instance_uid=series_uid, limit=2
)
assert len(instances) == 2, instances
sop_uid = instances[0]["00080018"]["Value"][0]

meta = client.retrieve_instance_metadata(
    study_instance_uid=study_uid, series_instance_uid=series_uid, sop_instance_uid=sop_uid
)
ds = pydicom.Dataset.from_json(meta)
assert ds.PatientID == subject
frames = client.retrieve_instance_frames(
    study_instance_uid=study_uid,
    series_instance_uid=series_uid,
    sop_instance_uid=sop_uid,
    frame_numbers=[1],
    media_types=("application/octet-stream",),
)
assert len(frames) == 1 and len(frames[0]) == ds.Rows * ds.Columns * ds.BitsAllocated // 8
instance = client.retrieve_instance(
    study_instance_uid=study_uid, series_instance_uid=series_uid, sop_instance_uid=sop_uid
)
assert instance.SOPInstanceUID == sop_uid
assert instance.PatientID == subject
assert "PatientBirthDate" not in instance or instance.PatientBirthDate != datasets[0].PatientBirthDate
print(json.dumps({"stored": len(refs), "study": study_uid, "subject": subject,
                  "frame_bytes": len(frames[0]), "rows": ds.Rows}))
