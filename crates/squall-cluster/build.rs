//! Rebuilds the crate when the web UI's built pages change: they are
//! embedded by `src/ui.rs` (rust-embed), from `ui/dist/` (see ui/README.md).
fn main() {
    println!("cargo:rerun-if-changed=../../ui/dist");
}
