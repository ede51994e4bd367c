//! Prints the `SCIMConfig` CustomResourceDefinition, generated from
//! `scim_sync::dynamic::DynamicOverrides`, as YAML. `cargo xtask k8s` writes
//! `k8s/crd/scimconfig-crd.yaml` with it, and CI fails when the checked-in file differs.
//!
//! ```text
//! cargo run -p scim-sync --example scimconfig_crd > k8s/crd/scimconfig-crd.yaml
//! ```

const HEADER: &str = "\
# Generated from scim_sync::dynamic::DynamicOverrides by `cargo xtask k8s`: edit the type, not
# this file. Settings that operators can flip at run time, without redeploying: the syncer
# reads the SCIMConfig named `default` in its own namespace at the start of every run; each
# field that is set overrides the static configuration (flags, environment, ConfigMap);
# absent fields keep it.
";

fn main() {
    let crd = scim_sync::dynamic::crd();
    let yaml = serde_saphyr::to_string(&crd).expect("a CRD always serializes");
    print!("{HEADER}{yaml}");
}
