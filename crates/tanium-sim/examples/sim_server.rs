//! Runs the simulator in the foreground for manual testing and load tests:
//! `cargo run --release -p runbook-tanium-sim --example sim_server -- [PORT] [FLEET_SIZE]`.
//! Prints the base URL and an API token, then serves until ctrl-c.

use std::net::SocketAddr;

use runbook_tanium_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(0);
    let fleet_size: Option<usize> = args.next().map(|text| text.parse()).transpose()?;
    let config = match fleet_size {
        Some(size) => SimConfig::with_generated_fleet(size),
        None => SimConfig::default(),
    };
    let sim = Simulator::start_on(config, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("url: {}", sim.base_url());
    println!("token: {}", sim.api_token());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
