//! Prints the JSON Schema of behalf.json (generated from core/src/spec.rs).
//! `cargo run -p behalf-core --example schema > schema/behalf.schema.json`
fn main() {
    let schema = behalf_core::spec::full_json_schema();
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("could not print the schema: {e}"),
    }
}
