//! Prints the JSON Schema of the ACTIVATE export file, generated from the type the file is
//! read into (`scim_diff::SourceSnapshot`). `examples/activate-export.schema.json` is this
//! output; the `export_schema` test fails when the two differ:
//!
//! ```sh
//! cargo run -q -p scim-sync --example export_schema > examples/activate-export.schema.json
//! ```

fn main() {
    let schema = schemars::schema_for!(scim_diff::SourceSnapshot);
    let text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    println!("{text}");
}
