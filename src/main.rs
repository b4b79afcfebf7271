// mimalloc: a Get- of 1,000 objects is mostly small allocations, which
// glibc's malloc makes markedly slower (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = xshell::cli::run(std::env::args().collect());
    std::process::exit(code);
}
