//! The operator process alone under load: `dpctl run` against the fake API server (in this
//! process, over HTTP), driven by `dpctl load-test` (a third process) with a burst of N products.
//! Reports load-test's figures (time to Ready, pick-up latency of the first and last tenth,
//! writes per product and during a quiet period, counted on the operator's client) and the
//! operator's peak RSS read from /proc. The fake API server answers instantly, so time to Ready
//! measures the operator, not an API server; `--baseline` adds a plain client applying the same
//! objects for comparison.
//!
//! ```sh
//! cargo build --release --bin dpctl && cargo bench --bench operator_load -- 1000 3000 10000
//! ```
//!
//! Run it as plain `cargo bench` (release), not `--profile dev`: a debug build of the fake API
//! server shares the cores with the operator and becomes the bottleneck above 1,000 products.

#[path = "../tests/support/apiserver.rs"]
#[allow(dead_code, unused_imports)]
mod apiserver;

use std::process::{Command, Stdio};
use std::time::Duration;

fn peak_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmHWM:")
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1000]
    } else {
        counts
    };
    let dpctl = std::env::var("DPCTL").unwrap_or_else(|_| "target/release/dpctl".to_string());
    let quiet = std::env::var("DPO_QUIET").unwrap_or_else(|_| "35s".to_string());
    // 30 s by default, so the quiet period covers one resync; DPO_RESYNC to measure others.
    let resync = std::env::var("DPO_RESYNC").unwrap_or_else(|_| "30s".to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for n in counts {
        rt.block_on(async {
            let server = apiserver::FakeApiServer::start().await;
            server.set_record_bodies(false);
            let dir = std::env::temp_dir().join(format!("dpo-load-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let kubeconfig = dir.join("kubeconfig");
            server.write_kubeconfig(&kubeconfig);
            let port = free_port();
            let mut operator = Command::new(&dpctl)
                .args(["run", "--leader-election", "false", "--resync-interval", &resync])
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dpctl run (build it with cargo build --release --bin dpctl)");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let idle = peak_rss_kib(operator.id()).unwrap_or(0);
            let mut load = Command::new(&dpctl);
            load.arg("load-test")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["--count", &n.to_string(), "--quiet", &quiet, "--baseline"])
                .args(["--metrics-url", &format!("http://127.0.0.1:{port}/metrics")])
                .stderr(Stdio::inherit());
            // Blocking, off the runtime that serves the fake API server.
            let load = tokio::task::spawn_blocking(move || load.output())
                .await
                .unwrap()
                .expect("dpctl load-test");
            let peak = peak_rss_kib(operator.id()).unwrap_or(0);
            let now = proc_status_kib(operator.id(), "VmRSS:").unwrap_or(0);
            let _ = operator.kill();
            let _ = operator.wait();
            println!("== {n} products");
            print!("{}", String::from_utf8_lossy(&load.stdout));
            println!(
                "operator peak RSS (VmHWM from /proc): {:.1} MiB (idle before the burst: {:.1} MiB; after the quiet period: {:.1} MiB)",
                peak as f64 / 1024.0,
                idle as f64 / 1024.0,
                now as f64 / 1024.0
            );
            println!("fake API server requests by kind: {:?}", server.counts());
            // With DPO_LAST_WRITES set: the operator's last writes, oldest first (the load
            // test's own deletes of its namespaces left out), to find what a quiet period saw.
            if std::env::var("DPO_LAST_WRITES").is_ok() {
                let writes: Vec<String> = server
                    .requests()
                    .into_iter()
                    .filter(|r| {
                        !matches!(r.method.as_str(), "GET" | "DELETE") && !r.path.contains("/leases")
                    })
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect();
                for w in &writes[writes.len().saturating_sub(12)..] {
                    println!("  {w}");
                }
            }
            println!();
        });
    }
}
