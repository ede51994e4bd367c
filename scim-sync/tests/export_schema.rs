//! The export file's JSON Schema in the repository is the one the code generates, and the
//! sample organization is an export the code reads.

#[test]
fn the_checked_in_export_schema_is_what_the_code_generates() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let path = format!("{root}/examples/activate-export.schema.json");
    let checked_in = std::fs::read_to_string(&path).expect("the schema is in the repository");
    let schema = schemars::schema_for!(scim_diff::SourceSnapshot);
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    assert!(
        checked_in == generated,
        "{path} is not what scim_diff::SourceSnapshot generates: run `cargo run -q -p scim-sync \
         --example export_schema > examples/activate-export.schema.json` and commit it"
    );
    let sample = std::fs::read_to_string(format!("{root}/examples/sample-org.json")).unwrap();
    scim_diff::SourceSnapshot::from_json(&sample).expect("the sample is a valid export");
}
