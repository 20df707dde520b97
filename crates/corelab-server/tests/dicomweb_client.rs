//! corelab's DICOMweb against a real client: dicomweb-client (PyPI; `.ci/run` installs it)
//! stores a CT series with STOW-RS, finds it with QIDO-RS and reads it back with WADO-RS.

mod common;

use common::Lab;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dicomweb_client_stores_finds_and_retrieves_a_series() {
    let lab = Lab::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, bytes) in corelab_dicom::synthetic::ct_series("MRN-404", "Poe^Edgar", 4, 4)
        .into_iter()
        .enumerate()
    {
        let f = dir.path().join(format!("{i}.dcm"));
        std::fs::write(&f, bytes).unwrap();
        files.push(f);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dwc.py");
    let url = format!("{}/dicomweb/T1", lab.base);
    let token = lab.tokens["site1"].clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(url)
            .arg(token)
            .args(&files)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "dwc.py failed (dicomweb-client from PyPI; .ci/run installs it):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stored"], 4);
    assert_eq!(v["rows"], 64);
    assert_eq!(v["frame_bytes"], 64 * 64 * 2);
    assert!(v["subject"].as_str().unwrap().starts_with("S01-"), "{v}");
}
