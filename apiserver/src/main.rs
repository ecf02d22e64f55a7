//! `cozystack-api`: the aggregated API server binary.
#![forbid(unsafe_code)]

use clap::Parser;

// glibc's malloc keeps freed memory in per-thread arenas: under a steady load its resident memory kept rising
// long after the live heap had levelled off (docs/reliability.md, "Soak"). mimalloc returns freed pages.
// It is built without transparent huge pages (the crate's `no_thp`): asked for them, it had the kernel back its
// segments with 2 MiB pages, and an idle server held 43 MiB of them for a few MiB of live heap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let flags = apiserver::flags::Flags::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if flags.log_format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    if let Err(e) = apiserver::run::run(flags).await {
        tracing::error!("{e:#}");
        eprintln!("cozystack-api: {e:#}");
        std::process::exit(1);
    }
}
