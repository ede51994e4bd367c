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
