//! Builds every job component for `wasm32-wasip2` and embeds the results in the binary.
//!
//! The nested cargo uses its own target directory: sharing the outer one would wait forever on
//! the lock the outer build holds.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

/// Set to `1` to embed no components: a faster build for checking the host alone, whose jobs
/// then need drop-in components.
const SKIP_VARIABLE: &str = "PCSYNC_SKIP_COMPONENT_BUILD";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ sits inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("components").display()
    );
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );

    println!("cargo:rerun-if-env-changed={SKIP_VARIABLE}");
    let skip = env::var_os(SKIP_VARIABLE).is_some_and(|value| value == "1");
    let components = if skip {
        Vec::new()
    } else {
        component_crates(&workspace.join("components"))
    };
    let target_dir = nested_target_dir(&out_dir);
    if !components.is_empty() {
        build_components(&workspace, &target_dir, &components);
    }

    let mut source = String::from("/// Job id and component bytes of every embedded component.\n");
    source.push_str("pub const COMPONENTS: &[(&str, &[u8])] = &[\n");
    for name in &components {
        let wasm = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        assert!(
            wasm.exists(),
            "the component build did not produce {}",
            wasm.display()
        );
        writeln!(
            source,
            "    ({name:?}, include_bytes!({:?})),",
            wasm.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    source.push_str("];\n");
    std::fs::write(out_dir.join("embedded_components.rs"), source)
        .expect("cannot write embedded_components.rs into OUT_DIR");
}

/// Every crate under `components/` that builds a component (a `cdylib`), named for its job id.
fn component_crates(components_dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(components_dir).expect("cannot list components/");
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.contains("cdylib") {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

/// `<target>/wasm-components`, beside the outer build's profile directories, so it survives
/// changes to this build script's output directory.
fn nested_target_dir(out_dir: &Path) -> PathBuf {
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<package>-<hash>/out.
    out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|target| target.join("wasm-components"))
        .unwrap_or_else(|| out_dir.join("wasm-components"))
}

fn build_components(workspace: &Path, target_dir: &Path, components: &[String]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", WASM_TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    for name in components {
        command.args(["--package", name]);
    }
    // Settings meant for the outer build (clippy's driver, host flags, its target directory)
    // must not leak into the component build.
    for variable in [
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        command.env_remove(variable);
    }

    let status = command
        .status()
        .unwrap_or_else(|error| panic!("cannot start cargo to build the components: {error}"));
    assert!(
        status.success(),
        "building the job components for {WASM_TARGET} failed (see the errors above); run `rustup target add {WASM_TARGET}` if the target is missing"
    );
}
