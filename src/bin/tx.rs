//! `tx`: the token-exchange command line. See `token_exchange::cli` and the README.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(token_exchange::cli::main());
}

#[cfg(target_arch = "wasm32")]
fn main() {}
