//! Generates the C header (include/nats/nats.h) with cbindgen and sets the
//! shared library's SONAME.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // Programs linked against Debian's nats.c 3.4 (libnats.so.3.4) load this
    // library in its place; see README "Using it instead of nats.c".
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnats.so.3.4");
    }

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => panic!("cbindgen.toml: {e}"),
    };
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(crate_dir.join("include/nats/nats.h"));
            if let Ok(out) = std::env::var("OUT_DIR") {
                bindings.write_to_file(PathBuf::from(out).join("include/nats/nats.h"));
            }
        }
        // While code is mid-edit the parse can fail; rustc reports the real error.
        Err(cbindgen::Error::ParseSyntaxError { .. }) => {}
        Err(e) => panic!("cbindgen: {e}"),
    }
}
