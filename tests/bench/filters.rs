//! `cargo bench --bench bench_filters [-- --sizes 640x480 --only blur --no-opencv]`
//!
//! Every filter at 640x480 and 1920x1080, single-threaded, against OpenCV in
//! the same run; see `framewire::bench::filters`.
//! `framewire bench filters` runs the same benchmark.

fn main() {
    let args = match framewire::bench::filters::Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_filters: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = framewire::bench::filters::run(&args) {
        eprintln!("bench_filters: {e}");
        std::process::exit(1);
    }
}
