//! Drop-in components: install with checks, rollback, pinning.

use pcsync::JobId;

use crate::harness::{Setup, assert_success, stderr, stdout};

fn embedded_policies_component(setup: &Setup) -> std::path::PathBuf {
    let bytes = pcsync::runtime::registry::embedded(JobId::PcPolicies).expect("embedded");
    let path = setup.dir.path().join("pc-policies-copy.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn install_smoke_tests_then_rolls_back() {
    let setup = Setup::new(25, 100);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));
    let file = embedded_policies_component(&setup);
    let file = file.to_str().unwrap();

    let output = setup.pcsync(&["components", "install", file]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("for job pc-policies"), "{text}");
    assert!(
        text.contains("smoke test on the newest stored page: new 25"),
        "{text}"
    );
    let drop_in = setup.data_dir().join("components/pc-policies.wasm");
    assert!(drop_in.exists());

    let output = setup.pcsync(&["components", "list"]);
    assert!(
        stdout(&output).contains("components/pc-policies.wasm"),
        "{}",
        stdout(&output)
    );

    let output = setup.pcsync(&["components", "install", file]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("previous component kept"),
        "{}",
        stdout(&output)
    );

    assert_success(&setup.pcsync(&["components", "rollback", "pc-policies"]));
    let output = setup.pcsync(&["components", "rollback", "pc-policies"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no previous component"),
        "{}",
        stderr(&output)
    );

    assert_success(&setup.pcsync(&["run", "pc-policies"]));
}

#[test]
fn install_refuses_other_contract_version() {
    let setup = Setup::new(5, 100);
    let file = setup.dir.path().join("future.wat");
    std::fs::write(
        &file,
        "(component (import \"pcsync:job/host@2.0.0\" (instance)))",
    )
    .unwrap();

    let output = setup.pcsync(&["components", "install", file.to_str().unwrap()]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("pcsync:job@2.0.0"), "{text}");
    assert!(text.contains("pcsync:job@1.0.0"), "{text}");
    assert!(
        !setup
            .data_dir()
            .join("components/pc-policies.wasm")
            .exists()
    );
}

#[test]
fn pinning_refuses_unlisted_hash() {
    let setup = Setup::with_extra(
        5,
        100,
        "[components.pc-policies]\nallowed_sha256 = [\"0000000000000000000000000000000000000000000000000000000000000000\"]\n",
    );
    let file = embedded_policies_component(&setup);
    let bytes = std::fs::read(&file).unwrap();
    let sha256 = pcsync::runtime::registry::sha256_hex(&bytes);

    let output = setup.pcsync(&["components", "install", file.to_str().unwrap()]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains(&sha256), "the refused hash is shown: {text}");
    assert!(text.contains("allowed_sha256"), "{text}");

    // A file dropped in by hand is refused at run time too.
    let drop_in = setup.data_dir().join("components/pc-policies.wasm");
    std::fs::create_dir_all(drop_in.parent().unwrap()).unwrap();
    std::fs::write(&drop_in, &bytes).unwrap();
    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(&sha256), "{}", stderr(&output));
}
