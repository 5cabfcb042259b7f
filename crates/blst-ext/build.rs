//! Compiles `csrc/ext.c` against blst's own C sources (the directory blst's build script names in
//! `DEP_BLST_C_SRC`), with the same instruction-set choice blst's build made.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// The blst source files the two functions need, in the order blst's `server.c` includes them.
const SOURCES: [&str; 7] = [
    "hash_to_field.c",
    "e2.c",
    "map_to_g2.c",
    "exp.c",
    "sqrt.c",
    "recip.c",
    "vect.c",
];

/// Non-`blst_` symbols those files define with external linkage (blst's library defines them
/// too).
const ALSO_RENAMED: [&str; 2] = ["BLS12_381_G2", "BLS12_381_NEG_G2"];

fn main() {
    let src = PathBuf::from(
        env::var("DEP_BLST_C_SRC")
            .expect("blst's build script names its C sources (DEP_BLST_C_SRC)"),
    );
    let bindings = src.join("..").join("bindings");
    println!("cargo:rerun-if-changed=csrc/ext.c");
    println!("cargo:rerun-if-env-changed=DEP_BLST_C_SRC");

    // Every public blst name (functions and types) gets a private spelling in this translation
    // unit: the copies of blst's code compiled here must not clash with the library's.
    let mut names = std::collections::BTreeSet::new();
    for header in ["blst.h", "blst_aux.h"] {
        let text = fs::read_to_string(bindings.join(header))
            .unwrap_or_else(|e| panic!("reading blst's {header}: {e}"));
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(at) = text[i..].find("blst_") {
            let start = i + at;
            let boundary = start == 0 || !is_ident(bytes[start - 1]);
            let mut end = start;
            while end < bytes.len() && is_ident(bytes[end]) {
                end += 1;
            }
            if boundary {
                names.insert(text[start..end].to_string());
            }
            i = end.max(start + 1);
        }
    }
    let mut unit = String::new();
    for name in names.iter().map(String::as_str).chain(ALSO_RENAMED) {
        writeln!(unit, "#define {name} kc_blst_ext_private_{name}").unwrap();
    }
    unit.push_str("#include \"consts.h\"\n#include \"bytes.h\"\n");
    for file in SOURCES {
        writeln!(unit, "#include \"{file}\"").unwrap();
    }
    let ext = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("csrc/ext.c");
    writeln!(unit, "#include \"{}\"", ext.display()).unwrap();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("kc_blst_ext.c");
    fs::write(&out, unit).expect("writing the generated C file");

    let mut cc = cc::Build::new();
    cc.file(&out).include(&src);
    if adx() {
        cc.define("__ADX__", None);
    }
    cc.flag_if_supported("-mno-avx")
        .flag_if_supported("-fno-builtin")
        .flag_if_supported("-Wno-unused-function")
        .flag_if_supported("-Wno-unused-command-line-argument")
        .opt_level(2)
        .compile("kc_blst_ext");
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether blst's build compiled for ADX (its rule, for blst without its `portable` and
/// `force-adx` features): on x86-64, the target features when a target CPU is named, otherwise
/// the build host's CPU. The choice selects which of blst's assembly entry points the C code
/// calls, and blst's library holds only the set of its own choice: a mismatch fails the link.
fn adx() -> bool {
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("x86_64") {
        return false;
    }
    if env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .contains("target-cpu=")
    {
        let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
        return features.split(',').any(|f| f == "adx");
    }
    host_adx()
}

#[cfg(target_arch = "x86_64")]
fn host_adx() -> bool {
    std::is_x86_feature_detected!("adx")
}

#[cfg(not(target_arch = "x86_64"))]
fn host_adx() -> bool {
    false
}
