//! The README's Rust example, as a program: scripts/test-readme.sh checks that the lines
//! between the markers are the README's `rust runnable` block, word for word, and runs this
//! in a fresh `behalf init` project (`cargo run -p behalf-core --example readme`).

#[rustfmt::skip] // the README shows these lines as they are here
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // README:start
    let policy = std::fs::read_to_string("behalf.json")?;
    let mut engine = behalf_core::Engine::from_json(&policy, Default::default())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let decision = engine.verify(&serde_json::json!({"agentId": "agent_claude_code",
        "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}}), now.try_into()?);
    if !decision.allowed() { return Err(decision.message().into()); }
    // the tool runs only here
    // README:end
    println!("{}", decision.to_json());
    Ok(())
}
