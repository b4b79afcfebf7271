// mimalloc: a Get- of 1,000 objects is mostly small allocations, and
// glibc's malloc took about a third of the instructions of such a command.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = xshell::cli::run(std::env::args().collect());
    std::process::exit(code);
}
