//! Every environment variable and flag the Kubernetes manifests (`k8s/`, `k8s/jobs/`, and the
//! ConfigMap's `k8s/config.env.example`) give the
//! container is one the binary accepts: named in its `--help`, not reported as unknown, and
//! the manifests' values pass validation.
//!
//! The manifests are read with a small line scanner (enough for the shapes used there:
//! ConfigMap `data:`, container `env:` lists of `- name:` / `value:`, and `args:` in flow or
//! block form). It fails loudly on shapes it does not understand rather than skip them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{repo_root, run_in};

#[derive(Default, Debug)]
struct Scan {
    /// Environment variables with their literal values (`None`: from a fieldRef/secretRef).
    env: BTreeMap<String, Option<String>>,
    /// Container arguments.
    args: Vec<String>,
    /// Whether a container takes its environment from a ConfigMap (`envFrom`).
    env_from_configmap: bool,
    /// ConfigMap `data` keys and values.
    configmap: BTreeMap<String, String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s.split(" #").next().unwrap_or(s).trim();
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        s[1..s.len() - 1].to_owned()
    } else {
        s.to_owned()
    }
}

fn significant(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn scan_doc(doc: &[&str], scan: &mut Scan) {
    let is_configmap = doc.iter().any(|l| l.trim() == "kind: ConfigMap");
    let mut i = 0;
    while i < doc.len() {
        let line = doc[i];
        let t = line.trim();
        let ind = indent(line);
        if is_configmap && t == "data:" {
            i += 1;
            while i < doc.len() && (!significant(doc[i]) || indent(doc[i]) > ind) {
                if significant(doc[i]) {
                    let (k, v) = doc[i]
                        .trim()
                        .split_once(':')
                        .unwrap_or_else(|| panic!("unexpected ConfigMap line {:?}", doc[i]));
                    scan.configmap.insert(k.trim().to_owned(), unquote(v));
                }
                i += 1;
            }
            continue;
        }
        if t == "envFrom:" {
            scan.env_from_configmap |= doc[i..]
                .iter()
                .take(4)
                .any(|l| l.trim() == "- configMapRef:");
        }
        if t == "env:" {
            i += 1;
            let mut current: Option<String> = None;
            while i < doc.len()
                && (!significant(doc[i])
                    || indent(doc[i]) > ind
                    || (indent(doc[i]) == ind && doc[i].trim().starts_with("- ")))
            {
                let item = doc[i].trim();
                if let Some(name) = item.strip_prefix("- name:") {
                    let name = unquote(name);
                    scan.env.insert(name.clone(), None);
                    current = Some(name);
                } else if let Some(value) = item.strip_prefix("value:") {
                    let name = current.clone().expect("value: follows - name:");
                    scan.env.insert(name, Some(unquote(value)));
                } else if item.starts_with("- ") {
                    panic!("env list item without `- name:` first: {item:?}");
                }
                i += 1;
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("args:") {
            let rest = rest.trim();
            if rest.starts_with('[') {
                let inner = rest.trim_start_matches('[').trim_end_matches(']');
                scan.args
                    .extend(inner.split(',').map(unquote).filter(|a| !a.is_empty()));
            } else {
                assert!(rest.is_empty(), "unexpected args form {t:?}");
                i += 1;
                while i < doc.len() && (!significant(doc[i]) || indent(doc[i]) >= ind) {
                    if let Some(a) = doc[i].trim().strip_prefix("- ") {
                        scan.args.push(unquote(a));
                    } else if significant(doc[i]) {
                        break;
                    }
                    i += 1;
                }
                continue;
            }
        }
        i += 1;
    }
}

/// Every manifest that sets the container's configuration: `k8s/`, the CRD and the one-off
/// Jobs.
fn manifests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["k8s", "k8s/crd", "k8s/jobs"] {
        files.extend(
            std::fs::read_dir(repo_root().join(dir))
                .unwrap_or_else(|e| panic!("{dir}/: {e}"))
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml")),
        );
    }
    files.sort();
    files
}

/// What `files` give the container, with the ConfigMap's keys from `k8s/config.env.example`
/// (what the kustomization's configMapGenerator reads, once an operator copied it).
fn scan_of(files: &[PathBuf]) -> Scan {
    let mut scan = Scan::default();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for doc in lines.split(|l| l.trim() == "---") {
            scan_doc(doc, &mut scan);
        }
    }
    let env_file = std::fs::read_to_string(repo_root().join("k8s/config.env.example")).unwrap();
    for line in env_file.lines().filter(|l| significant(l)) {
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("unexpected config.env line {line:?}"));
        scan.configmap
            .insert(k.trim().to_owned(), v.trim().to_owned());
    }
    scan
}

fn scan_all() -> Scan {
    scan_of(&manifests())
}

/// The CronJob's configuration alone (the one-off Jobs add their own subcommand).
fn scan_cronjob() -> Scan {
    scan_of(&[repo_root().join("k8s/cronjob.yaml")])
}

/// The help text with whitespace collapsed (clap wraps long lines).
fn help() -> String {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(dir.path(), &["--help"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    r.stdout.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_scanner_finds_what_the_cronjob_uses() {
    let scan = scan_all();
    // if these fail, the manifests changed shape: teach the scanner, do not drop the test
    assert!(scan.env_from_configmap, "{scan:?}");
    assert!(
        scan.env.contains_key("CW_SCIM_BEARER_TOKEN_FILE"),
        "{scan:?}"
    );
    assert!(scan.env.contains_key("POD_NAMESPACE"), "{scan:?}");
    assert!(
        scan.configmap.contains_key("CW_SCIM_ORG_USERID"),
        "{scan:?}"
    );
    assert!(scan.args.iter().any(|a| a == "--deadline"), "{scan:?}");
}

#[test]
fn every_variable_and_flag_in_the_manifests_is_in_the_help() {
    let scan = scan_all();
    let help = help();
    let names = scan.env.keys().chain(scan.configmap.keys());
    for name in names {
        assert!(
            help.contains(&format!("[env: {name}")),
            "k8s/ sets {name}, which the binary does not read"
        );
    }
    for arg in scan.args.iter().filter(|a| a.starts_with("--")) {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}[")),
            "k8s/ passes {flag}, which the binary does not take"
        );
    }
}

#[test]
fn the_manifests_configuration_is_valid_and_recognised() {
    let scan = scan_cronjob();
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = scan.configmap.clone().into_iter().collect();
    for (name, value) in &scan.env {
        let value = match value {
            // secrets are mounted as files: give the binary readable ones
            Some(path) if name.ends_with("_FILE") => {
                let file = dir.path().join(name);
                std::fs::write(&file, "not-a-real-secret\n").unwrap();
                let _ = path;
                file.to_string_lossy().into_owned()
            }
            Some(v) => v.clone(),
            None => "pw-scim".to_owned(),
        };
        env.push((name.clone(), value));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut args: Vec<&str> = scan.args.iter().map(String::as_str).collect();
    // `demo` validates every option but talks to no outside service
    args.extend(["demo", "--output", "json"]);
    let r = run_in(dir.path(), &args, &env);
    assert_ne!(
        r.code,
        2,
        "the manifests' configuration is rejected: {}",
        r.all()
    );
    assert!(
        !r.stderr.contains("unknown environment variable"),
        "{}",
        r.all()
    );
    // LOG_FORMAT=json in the ConfigMap: every log line is a JSON object
    if scan.configmap.get("LOG_FORMAT").map(String::as_str) == Some("json") {
        for line in r.stderr.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            assert!(v.get("level").is_some(), "{line}");
        }
    }
}

#[test]
fn an_unknown_prefixed_variable_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(
        dir.path(),
        &["demo"],
        &[("SYNC_FROBNICATE", "3"), ("LOG_FORMAT", "json")],
    );
    assert!(r.stderr.contains("SYNC_FROBNICATE"), "{}", r.all());
    assert!(
        r.stderr.contains("unknown environment variable"),
        "{}",
        r.all()
    );
}

#[test]
fn no_secret_or_filled_in_value_lives_in_a_tracked_manifest() {
    // re-applying `kubectl apply -k k8s/` must never reset a rotated token to a placeholder
    for file in manifests() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text
                .lines()
                .any(|l| l.trim() == "kind: Secret" || l.trim() == "kind: ConfigMap"),
            "{} holds a Secret or ConfigMap: generate it from git-ignored files instead",
            file.display()
        );
    }
    let kustomization =
        std::fs::read_to_string(repo_root().join("k8s/kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("secretGenerator:") && kustomization.contains("configMapGenerator:")
    );
    let ignored = std::fs::read_to_string(repo_root().join(".gitignore")).unwrap();
    for path in ["/k8s/secrets/", "/k8s/config.env"] {
        assert!(
            ignored.lines().any(|l| l == path),
            ".gitignore lacks {path}"
        );
    }
    // the CRD is its own kustomization, applied first; the main one never needs it
    let mut listed = kustomization
        .lines()
        .filter(|l| l.trim_start().starts_with("- ") && !l.trim_start().starts_with("- #"));
    assert!(
        !listed.any(|l| l.contains("scimconfig")),
        "the main kustomization lists the CRD or a SCIMConfig: {kustomization}"
    );
}

#[test]
fn the_one_off_jobs_run_the_cronjobs_pod_but_for_its_arguments() {
    // the pod template of each, indentation and arguments aside: a change to the CronJob's pod
    // (image, security context, mounts) must be made to the one-off Jobs too
    let pod = |text: &str, marker: &str, dedent: usize| -> Vec<String> {
        let start = text.find(marker).unwrap_or_else(|| panic!("no {marker:?}"));
        text[start..]
            .lines()
            .map(|l| {
                l.get(dedent.min(indent(l))..)
                    .unwrap_or_default()
                    .to_owned()
            })
            .map(|l| {
                if l.trim_start().starts_with("args:") {
                    "args: …".to_owned()
                } else {
                    l
                }
            })
            .filter(|l| !l.trim().is_empty())
            .collect()
    };
    let cronjob = std::fs::read_to_string(repo_root().join("k8s/cronjob.yaml")).unwrap();
    let expected = pod(&cronjob, "      template:\n", 4);
    for job in ["check", "dry-run"] {
        let text =
            std::fs::read_to_string(repo_root().join(format!("k8s/jobs/{job}.yaml"))).unwrap();
        let got = pod(&text, "  template:\n", 0);
        assert_eq!(
            got, expected,
            "k8s/jobs/{job}.yaml drifted from the CronJob's pod"
        );
    }
}
