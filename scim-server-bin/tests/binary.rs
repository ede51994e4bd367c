//! The `scim-server` binary, run as a user runs it: its flags, and its accept loop at the
//! file-descriptor limit.

use std::net::TcpStream;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;

/// Starts the server with `cmd` and returns it with the base URL it prints first.
fn start(mut cmd: std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("scim-server listening on ")
        .unwrap()
        .to_string();
    (child, base)
}

#[tokio::test]
async fn the_binary_serves_with_its_flags() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scim-server"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--profile",
        "coreweave",
        "--throttle-rate",
        "1.0",
    ])
    .env("SCIM_SERVER_TOKEN", "bin-token");
    let (mut child, base) = start(cmd);
    let c = Client::new();
    let r = c
        .get(format!("{base}/Users"))
        .bearer_auth("bin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let spc: Value = c
        .get(format!("{base}/ServiceProviderConfig"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null);
    // discovery is throttled too (the rate is 1.0): the body is a SCIM error
    assert_eq!(spc["status"], "429");
    child.kill().unwrap();
    let _ = child.wait();
}

/// At the file-descriptor limit, the accept loop waits instead of spinning: the binary, run
/// with a low `ulimit -n` and flooded with connections, stays nearly idle.
#[cfg(target_os = "linux")]
#[test]
fn at_the_descriptor_limit_the_accept_loop_backs_off() {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 48 && exec '{}' --listen 127.0.0.1:0 --max-connections 4096",
        env!("CARGO_BIN_EXE_scim-server")
    ));
    let (mut child, base) = start(cmd);
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .trim_end_matches("/v2")
        .parse()
        .unwrap();
    // more connections than the process has descriptors for
    let conns: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert!(conns.len() > 48);
    std::thread::sleep(Duration::from_millis(300));
    let cpu_ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(child.id()) - before;
    let _ = child.kill();
    let _ = child.wait();
    drop(conns);
    // a spinning loop burns a whole core: ~200 ticks in 2 s at 100 Hz
    assert!(
        used < 40,
        "the server used {used} ticks of CPU in 2 s while refusing connections"
    );
}

/// `token hash` prints the digest a tokens file holds; `--tokens FILE` serves a read-only
/// and a read-write team, each on its own tenant, and `--token` keeps opening everything.
#[tokio::test]
async fn a_tokens_file_serves_a_read_only_and_a_read_write_team() {
    use std::io::Write as _;
    let hash = |token: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scim-server"))
            .args(["token", "hash"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{token}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let ro = hash("readers-token");
    assert_eq!(ro, scim_server::policy::digest_hex("readers-token"));
    assert_eq!(ro.len(), 64);
    let rw = hash("writers-token");
    let dir = tempfile_dir();
    let file = dir.join("tokens.json");
    std::fs::write(
        &file,
        serde_json::json!({"tokens": [
            {"name": "team-a-readers", "sha256": ro, "tenants": ["team-a"], "preset": "read-only"},
            {"name": "team-b-sync", "sha256": rw, "tenants": ["team-b"], "preset": "read-write"}
        ]})
        .to_string(),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scim-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--tokens"])
        .arg(&file)
        .args(["--token", "ops-token"]);
    let (mut child, base) = start(cmd);
    let root = base.trim_end_matches("/v2");
    let c = Client::new();
    let user = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "u"});
    let post = |tenant: &str, token: &str| {
        c.post(format!("{root}/{tenant}/v2/Users"))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(user.to_string())
            .send()
    };
    let r = post("team-a", "readers-token").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e: Value = r.json().await.unwrap();
    assert!(e["detail"].as_str().unwrap().contains("scim:create_user"));
    assert_eq!(
        post("team-b", "writers-token").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post("team-a", "writers-token").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("team-c", "ops-token").await.unwrap().status(),
        StatusCode::CREATED
    );
    let r = c
        .get(format!("{root}/team-a/v2/Users"))
        .bearer_auth("readers-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    child.kill().unwrap();
    let _ = child.wait();

    // a file that is not valid: the server does not start, and says which token is wrong
    std::fs::write(
        &file,
        r#"{"tokens": [{"name": "oops", "sha256": "readers-token", "tenants": "*"}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .args(["--listen", "127.0.0.1:0", "--tokens"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("oops") && !err.contains("readers-token"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh directory under the target's temporary directory.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "tokens-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
