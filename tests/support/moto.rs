//! Starts `moto_server` (PyPI `moto[server]`) on a free loopback port, waits until it answers and
//! stops it on drop. When moto is not installed the test is skipped with a printed reason, unless
//! `DPO_REQUIRE_MOTO=1` (set by .ci/run), where that is a failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use dataproduct_operator::aws::{Aws, AwsSettings};

/// A running moto server, stopped (killed by pid) on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// Dummy credentials for this test process only (moto accepts any), set once before any client
/// is built.
pub fn test_environment() {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("no_proxy", "127.0.0.1,localhost"),
        ] {
            std::env::set_var(k, v);
        }
        for k in [
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
        ] {
            std::env::remove_var(k);
        }
    });
}

fn python() -> String {
    std::env::var("DPO_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Why moto cannot run here, if it cannot (checked once per test binary).
fn unavailable() -> Option<&'static str> {
    static CHECK: OnceLock<Option<String>> = OnceLock::new();
    CHECK
        .get_or_init(|| {
            match Command::new(python())
                .args(["-c", "import moto.server, flask; print(moto.__version__)"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
            {
                Ok(out) if out.status.success() => None,
                Ok(out) => Some(format!(
                    "moto[server] is not installed for {}: {}",
                    python(),
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                )),
                Err(e) => Some(format!("{} cannot be run: {e}", python())),
            }
        })
        .as_deref()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// True once the server answers HTTP on its reset endpoint.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

impl Moto {
    /// A fresh moto server, or None (test skipped) when moto is not installed and
    /// `DPO_REQUIRE_MOTO` is not `1`.
    pub fn start() -> Option<Moto> {
        test_environment();
        if let Some(reason) = unavailable() {
            if std::env::var("DPO_REQUIRE_MOTO").as_deref() == Ok("1") {
                panic!("DPO_REQUIRE_MOTO=1 but {reason}");
            }
            eprintln!("skipped: {reason} (pip install 'moto[server]')");
            return None;
        }
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(python())
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto server");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if answers(port) {
                    return Some(Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken in between: try another
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto server did not start");
    }

    /// The AWS step pointed at this server, with short backoffs.
    pub async fn aws(&self) -> Aws {
        aws_at(&self.endpoint).await
    }
}

/// The AWS step pointed at an endpoint (moto, or the fault proxy in front of it).
pub async fn aws_at(endpoint: &str) -> Aws {
    Aws::new(AwsSettings {
        endpoint_url: Some(endpoint.to_string()),
        max_attempts: 6,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..AwsSettings::default()
    })
    .await
    .expect("AWS step")
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK clients straight to moto, to set up and read back state independently of the code
/// under test.
pub struct Sdk {
    pub s3: aws_sdk_s3::Client,
    pub glue: aws_sdk_glue::Client,
    pub iam: aws_sdk_iam::Client,
    pub lf: aws_sdk_lakeformation::Client,
}

impl Sdk {
    pub async fn new(endpoint: &str, region: &str) -> Sdk {
        test_environment();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        Sdk {
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&conf)
                    .force_path_style(true)
                    .build(),
            ),
            glue: aws_sdk_glue::Client::new(&conf),
            iam: aws_sdk_iam::Client::new(&conf),
            lf: aws_sdk_lakeformation::Client::new(&conf),
        }
    }
}
