//! The host's WIT files are verbatim copies of the ones spin-sdk 5.2.0 ships, so the host
//! bindings and the guests' bindings cannot drift apart. This test finds spin-sdk's source
//! through `cargo metadata` and compares byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

fn spin_sdk_wit_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&workspace)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "spin-sdk")
        .expect("spin-sdk is a dependency");
    assert_eq!(pkg["version"], "5.2.0", "components pin spin-sdk =5.2.0");
    let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap());
    manifest.parent().unwrap().join("wit/deps")
}

#[test]
fn every_copied_interface_is_identical_to_spin_sdks() {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/deps");
    let theirs = spin_sdk_wit_dir();
    let mut compared = 0;
    for package in std::fs::read_dir(&ours).unwrap() {
        let package = package.unwrap().path();
        for file in std::fs::read_dir(&package).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if name == "package.wit" {
                // Ours: declares the package for the copied files, which carry none.
                continue;
            }
            let rel = file.strip_prefix(&ours).unwrap();
            let original = std::fs::read(theirs.join(rel))
                .unwrap_or_else(|e| panic!("spin-sdk has no {}: {e}", rel.display()));
            assert_eq!(
                std::fs::read(&file).unwrap(),
                original,
                "{} differs from spin-sdk 5.2.0's",
                rel.display()
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 5, "variables, redis, key-value, sqlite, postgres");
}
