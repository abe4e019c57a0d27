//! The `framewire` command line.
fn main() {
    println!("framewire {}", env!("CARGO_PKG_VERSION"));
}
