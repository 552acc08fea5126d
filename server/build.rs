//! Rebuild when the embedded web client changes (also when a file is added or removed).
fn main() {
    println!("cargo:rerun-if-changed=../web-client");
}
