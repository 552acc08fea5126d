//! `relay --bind ADDR`: the measuring-stick broadcast relay (see `plenary_tests::load::relay`).
//! Not product code.

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Address to listen on; the bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    println!("relay listening addr={}", listener.local_addr()?);
    plenary_tests::load::relay::serve(listener).await
}
