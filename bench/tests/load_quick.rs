//! The load driver's quick mode (issue 16 part 3) as part of the test suite: 64 associations of
//! C-STORE with QIDO-RS and WADO-RS clients against a real `corelab serve`, then a short soak.
//! It fails only if corelab refused or failed an operation, lost an object or crashed; it asserts
//! no timing (the figures are in docs/reliability.md, from release builds).
//!
//! It runs the `load` binary and the `corelab` binary this test build made (the workspace's
//! feature set), rather than `cargo run -p`, which would resolve features for one package and
//! rebuild half the dependency tree.

use std::path::Path;
use std::process::Command;

#[test]
fn sixty_four_associations_and_web_clients_get_no_refusal_and_the_server_survives() {
    let load = Path::new(env!("CARGO_BIN_EXE_load"));
    let corelab = load.with_file_name("corelab");
    assert!(
        corelab.is_file(),
        "{} is missing: the workspace's test build makes it (cargo nextest run --workspace)",
        corelab.display()
    );
    let out = std::env::temp_dir().join(format!("corelab-load-quick-{}.json", std::process::id()));
    let status = Command::new(load)
        .arg("--quick")
        .arg("--corelab")
        .arg(&corelab)
        .arg("--json")
        .arg(&out)
        .env_remove("CARGO")
        .status()
        .expect("the load driver starts");
    let report = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(
        status.success(),
        "load --quick failed ({status}); its report: {report}"
    );
    println!("{report}");
}
