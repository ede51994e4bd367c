//! Exit codes are a contract with operators.

use scim_sync_cli::exit::Outcome;

#[test]
fn codes_are_the_documented_ones() {
    let all = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::Usage,
        Outcome::Refused,
        Outcome::ReadFailed,
    ];
    let codes: Vec<u8> = all.iter().map(|o| o.code()).collect();
    assert_eq!(codes, [0, 1, 2, 3, 4]);
    assert_eq!(
        serde_json::to_value(Outcome::ReadFailed).unwrap(),
        "read_failed"
    );
    assert_eq!(Outcome::ReadFailed.as_str(), "read_failed");
}
