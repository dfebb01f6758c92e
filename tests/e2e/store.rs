//! The data directory's lock and the store's guarantees, through the binary.

use crate::harness::{Setup, assert_success, stderr};

#[test]
fn second_process_names_the_holder() {
    let setup = Setup::new(5, 100);
    assert_success(&setup.pcsync(&["run", "pc-policies"]));

    let holder = setup.open();
    let output = setup.pcsync(&["run", "pc-policies"]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("in use by another pcsync process"), "{text}");
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    drop(holder);

    assert_success(&setup.pcsync(&["run", "pc-policies"]));
}
