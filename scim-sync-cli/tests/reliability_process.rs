//! Process faults: the run stopped halfway through applying, by SIGTERM from outside and by
//! its own `--deadline`. The binary must stop issuing writes, exit saying so, and the next
//! run must converge. Writes are slowed by the server (latency on every write) so "halfway"
//! is deterministic.

mod reliability_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use reliability_support::*;
use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RouteMatch};

fn slow_writes() -> FaultPlan {
    let mut plan = FaultPlan::new(0);
    for op in [Op::Create, Op::Patch, Op::Replace] {
        plan = plan.rule(
            FaultRule::new(Fault::Latency(Duration::from_millis(150)))
                .route(RouteMatch::any().op(op)),
        );
    }
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_halfway_through_applying_stops_writes_and_the_next_run_converges() {
    let org = Org::generate(40, 3);
    let dir = tempfile::tempdir().unwrap();
    let source = org.write(dir.path());
    let server = server(slow_writes()).await;
    let unmanaged = seed_unmanaged(&server.default_tenant());
    let env = target_env(&server.base_url(), &source);

    let mut cmd = command(dir.path());
    cmd.args(["--output", "json"])
        .envs(env.iter().cloned())
        // one write at a time, fixed: at most one in flight when the signal comes
        .env("SYNC_CONCURRENCY", "1")
        .env("SYNC_MAX_CONCURRENCY", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    // wait until the apply is under way: 8 writes done
    let started = Instant::now();
    while writes(&server).len() < 8 {
        assert!(started.elapsed() < Duration::from_secs(30), "no writes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let at_signal = writes(&server).len();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    // it exited by itself (not killed by the signal), saying what happened
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        report["warnings"].to_string().contains("stop signal"),
        "{}",
        report["warnings"]
    );
    let skipped = report["summary"]["skipped"].as_u64().unwrap();
    assert!(skipped > 0, "{}", report["summary"]);
    // at most the one write in flight finished after the signal
    let after = writes(&server).len();
    assert!(
        after <= at_signal + 1,
        "writes went on after SIGTERM: {at_signal} -> {after}"
    );
    assert!(
        after < 40,
        "the run was stopped halfway ({after} writes of ~45)"
    );
    eprintln!("SIGTERM after {at_signal} writes; {after} in total; {skipped} skipped");

    // the next run picks up the rest
    let r = run(&env, &[("SYNC_CONCURRENCY", "4")], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.planned() > 0);
    assert_unmanaged_untouched(&server.default_tenant(), &unmanaged);
    assert_converged(&server.default_tenant(), &org);
    let dry = run(&env, &[], &["--dry-run"]).await;
    assert_eq!(dry.planned(), 0, "{}", dry.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_passing_mid_apply_stops_writes_and_the_next_run_converges() {
    let org = Org::generate(40, 3);
    let dir = tempfile::tempdir().unwrap();
    let source = org.write(dir.path());
    let server = server(slow_writes()).await;
    let unmanaged = seed_unmanaged(&server.default_tenant());
    let env = target_env(&server.base_url(), &source);

    let started = Instant::now();
    let r = run(
        &env,
        &[("SYNC_CONCURRENCY", "1"), ("SYNC_MAX_CONCURRENCY", "1")],
        &["--deadline", "1500ms"],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.warnings().contains("deadline"), "{}", r.warnings());
    let done = r.report["summary"]["done"].as_u64().unwrap();
    let skipped = r.report["summary"]["skipped"].as_u64().unwrap();
    assert!(done > 0 && skipped > 0, "{}", r.report["summary"]);
    assert!(
        took < Duration::from_secs(5),
        "stopped soon after the deadline: {took:?}"
    );
    assert_eq!(
        writes(&server).len() as u64,
        done,
        "every write issued is reported done"
    );
    eprintln!("deadline: {done} done, {skipped} skipped in {took:?}");

    let r = run(&env, &[("SYNC_CONCURRENCY", "4")], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_unmanaged_untouched(&server.default_tenant(), &unmanaged);
    assert_converged(&server.default_tenant(), &org);
}
