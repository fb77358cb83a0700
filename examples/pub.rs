// Run: cargo run --example pub -- nats://127.0.0.1:4222 greet "hello"
fn main() -> Result<(), nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| nats::DEFAULT_URL.to_string());
    let subject = args.next().unwrap_or_else(|| "greet".to_string());
    let payload = args.next().unwrap_or_else(|| "hello".to_string());
    let nc = nats::Connection::connect(&url)?;
    nc.publish(&subject, payload.as_bytes())?;
    nc.flush()?;
    println!("published {subject:?} -> {payload:?}");
    Ok(())
}
