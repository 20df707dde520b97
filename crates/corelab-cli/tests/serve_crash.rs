//! Crash consistency of the storage SCP (DESIGN.md invariant 1): storescu sends 500 instances while
//! the server is killed with SIGKILL at a random moment, 10 times over one installation. After
//! each kill, every instance storescu saw acknowledged is in the catalogue and its bytes read back,
//! and the audit trail verifies.

mod common;

use common::{corpus, lab_with_trial, serve};
use corelab_dicom::deid::UidMapper;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TRIAL: &str = r#"
[trial]
id = "CRASH-1"
sponsor = "Example Pharma"
protocol = "EXP-1"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

const INSTANCES: usize = 500;
const ROUNDS: usize = 10;

/// 500 distinct instances: the shared CT with its SOP Instance UID replaced.
fn instances(dir: &Path) -> Vec<(PathBuf, String)> {
    let ct = corpus("pydicom_test_files/CT_small.dcm");
    let parsed = corelab_dicom::read::read_path(&ct).unwrap();
    (0..INSTANCES)
        .map(|i| {
            let uid = format!("1.2.826.0.1.3680043.9.7781.{i}");
            let mut obj = parsed.dataset.clone();
            obj.put(DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(uid.as_str()),
            ));
            let bytes = corelab_dicom::deid::encode_part10(obj, &parsed.transfer_syntax).unwrap();
            let path = dir.join(format!("{i:04}.dcm"));
            std::fs::write(&path, bytes).unwrap();
            (path, uid)
        })
        .collect()
}

/// A pseudo-random number from the clock (no dependency needed for a kill moment).
fn jitter(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos.wrapping_mul(6364136223846793005) >> 20) % max_ms
}

#[test]
fn acknowledged_instances_survive_sigkill_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let files_dir = dir.path().join("send");
    std::fs::create_dir_all(&files_dir).unwrap();
    let all = instances(&files_dir);
    let uid_of: std::collections::HashMap<String, String> = all
        .iter()
        .map(|(p, u)| (p.display().to_string(), u.clone()))
        .collect();
    let mut acknowledged = BTreeSet::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for round in 0..ROUNDS {
        let mut server = serve(&data);
        let port = server.port.clone();
        let client = Command::new("/usr/bin/storescu")
            .args([
                "-v",
                "-aet",
                "S01PACS",
                "-aec",
                "CORELAB",
                "127.0.0.1",
                &port,
            ])
            // Each round starts further along, so new instances arrive as well as duplicates.
            .args(
                all.iter()
                    .cycle()
                    .skip(round * INSTANCES / ROUNDS)
                    .take(INSTANCES)
                    .map(|(p, _)| p),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/bin/storescu (Debian package dcmtk; .ci/run installs it)");
        std::thread::sleep(Duration::from_millis(100 + jitter(1500)));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        let out = client.wait_with_output().unwrap();
        // storescu -v logs "Sending file: F" then "Received Store Response (Success)" per file.
        let log = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        let mut current = None;
        let mut this_round = 0;
        for line in log.lines() {
            if let Some(f) = line.split("Sending file: ").nth(1) {
                current = uid_of.get(f.trim()).cloned();
            } else if line.contains("Received Store Response (Success)")
                && let Some(uid) = current.take()
            {
                acknowledged.insert(uid);
                this_round += 1;
            }
        }
        eprintln!("round {round}: {this_round} acknowledged before the kill");
        // Every instance acknowledged so far, in this round or before, is catalogued and readable.
        runtime.block_on(async {
            let store = corelab_store::Store::open(&data, &Default::default())
                .await
                .unwrap();
            let mapper = UidMapper::new(store.trial_secret("CRASH-1").unwrap());
            for uid in &acknowledged {
                let stored = store
                    .instance_bytes("CRASH-1", &mapper.map(uid))
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: acknowledged {uid} lost: {e}"));
                assert!(stored.len() > 1000);
            }
            let report = store.verify_audit().await.unwrap();
            assert!(report.ok, "round {round}: {report:?}");
            store.db.close().await;
        });
    }
    assert!(
        !acknowledged.is_empty(),
        "no instance was ever acknowledged"
    );
    eprintln!(
        "{} distinct instances acknowledged over {ROUNDS} rounds",
        acknowledged.len()
    );
}
