//! A fault-injecting HTTP proxy on loopback in front of moto. Faults are deterministic (by
//! request number) and bounded (a budget): throttling answered before the request reaches moto
//! (S3 `503 SlowDown`, Glue / Lake Formation `400 ThrottlingException`, IAM `400 Throttling`),
//! `500`s before forwarding, and `500`s after forwarding (the change happened, the client does
//! not know: retries must be idempotent). A rule can also deny one action with `403`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Which requests fail: request number `n` (1-based) fails as `pattern[n % pattern.len()]`,
/// until `budget` faults were injected.
#[derive(Debug, Clone)]
pub struct Faults {
    pub pattern: Vec<Fault>,
    pub budget: u32,
    /// Answer requests whose body or path contains this action name with 403 AccessDenied.
    pub deny: Option<String>,
    /// Throttle each request with this probability (seeded, so runs repeat), independently of
    /// the request rate: faults a client cannot avoid by slowing down.
    pub random_throttle: Option<(f64, u64)>,
    /// Throttle what exceeds a token bucket of `rate` requests per second and `burst` capacity:
    /// faults that depend on the request rate, where slowing down helps.
    pub rate_limit: Option<(f64, f64)>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            pattern: Vec::new(),
            budget: u32::MAX,
            deny: None,
            random_throttle: None,
            rate_limit: None,
        }
    }
}

/// The proxy's throttling decisions that carry state: the random source and the token bucket.
struct Throttle {
    rng: Mutex<fastrand::Rng>,
    bucket: Mutex<(f64, std::time::Instant)>,
}

impl Throttle {
    fn new(faults: &Faults) -> Throttle {
        Throttle {
            rng: Mutex::new(fastrand::Rng::with_seed(
                faults.random_throttle.map(|(_, s)| s).unwrap_or(1),
            )),
            bucket: Mutex::new((
                faults.rate_limit.map(|(_, b)| b).unwrap_or(0.0),
                std::time::Instant::now(),
            )),
        }
    }

    fn throttles(&self, faults: &Faults) -> bool {
        if let Some((p, _)) = faults.random_throttle {
            if self.rng.lock().unwrap().f64() < p {
                return true;
            }
        }
        if let Some((rate, burst)) = faults.rate_limit {
            let mut b = self.bucket.lock().unwrap();
            let now = std::time::Instant::now();
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(burst);
            b.1 = now;
            if b.0 < 1.0 {
                return true;
            }
            b.0 -= 1.0;
        }
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Throttle,
    ErrorBefore,
    ErrorAfter,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU32,
    pub throttled: AtomicU32,
    pub errors_before: AtomicU32,
    pub errors_after: AtomicU32,
    pub denied: AtomicU32,
    /// Requests seen per action (for "was it retried?").
    pub actions: Mutex<Vec<String>>,
    /// Requests forwarded that succeeded, as action, path and a digest of the body: the same
    /// entry twice is a call that had already succeeded and was made again.
    pub succeeded: Mutex<Vec<String>>,
}

impl Stats {
    pub fn faults(&self) -> u32 {
        self.throttled.load(Ordering::Relaxed)
            + self.errors_before.load(Ordering::Relaxed)
            + self.errors_after.load(Ordering::Relaxed)
    }

    /// Successful calls made again with the same request.
    pub fn repeated_successes(&self) -> usize {
        let all = self.succeeded.lock().unwrap();
        let distinct: std::collections::BTreeSet<&String> = all.iter().collect();
        all.len() - distinct.len()
    }

    pub fn count(&self, action: &str) -> usize {
        self.actions
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.as_str() == action)
            .count()
    }
}

pub struct Proxy {
    pub endpoint: String,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: &str, faults: Faults) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Stats::default());
        let throttle = Arc::new(Throttle::new(&faults));
        let state = Arc::new((faults, stats.clone(), upstream, throttle));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { handle(req, &state.0, &state.1, state.2, &state.3).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy {
            endpoint,
            stats,
            task,
        }
    }
}

/// The service named in the SigV4 credential scope: `Credential=AKID/date/region/SERVICE/aws4_request`.
fn service_of(req: &Request<Incoming>) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("s3")
        .to_string()
}

/// The operation, as far as the wire shows it (for the deny rule and the statistics).
fn action_of(service: &str, method: &str, path: &str, target: Option<&str>, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    match service {
        "iam" => body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("?")
            .to_string(),
        "glue" => target
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("?")
            .to_string(),
        "lakeformation" => path.trim_start_matches('/').to_string(),
        _ => format!("{method} {}", path.split('?').next().unwrap_or("")),
    }
}

fn error(service: &str, fault: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body, error_type) = match (service, fault) {
        ("s3", "throttle") => (
            503,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>".to_string(),
            None,
        ),
        ("s3", "deny") => (
            403,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>fault</RequestId></Error>".to_string(),
            None,
        ),
        ("s3", _) => (
            500,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>fault</RequestId></Error>".to_string(),
            None,
        ),
        ("iam", f) => {
            let (status, kind, code, message) = match f {
                "throttle" => (400, "Sender", "Throttling", "Rate exceeded"),
                "deny" => (403, "Sender", "AccessDenied", "User is not authorized to perform this action"),
                _ => (500, "Receiver", "ServiceFailure", "Internal failure"),
            };
            (
                status,
                "text/xml",
                format!("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"),
                None,
            )
        }
        (_, f) => {
            let (status, code, message) = match f {
                "throttle" => (400, "ThrottlingException", "Rate exceeded"),
                "deny" => (403, "AccessDeniedException", "User is not authorized to perform this action"),
                _ => (500, "InternalServiceException", "Internal service exception"),
            };
            let content_type = if service == "glue" {
                "application/x-amz-json-1.1"
            } else {
                "application/json"
            };
            (
                status,
                content_type,
                format!("{{\"__type\":\"{code}\",\"message\":\"{message}\",\"Message\":\"{message}\"}}"),
                Some(code),
            )
        }
    };
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .header("x-amzn-requestid", "fault");
    if let Some(t) = error_type {
        resp = resp.header("x-amzn-errortype", t);
    }
    resp.body(Full::new(Bytes::from(body))).unwrap()
}

async fn handle(
    req: Request<Incoming>,
    faults: &Faults,
    stats: &Stats,
    upstream: SocketAddr,
    throttle: &Throttle,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let n = stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let service = service_of(&req);
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let action = action_of(
        &service,
        parts.method.as_str(),
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok()),
        &body,
    );
    stats.actions.lock().unwrap().push(action.clone());
    let call = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut h);
        format!("{action} {} {:x}", parts.uri, h.finish())
    };
    if faults.deny.as_deref().is_some_and(|d| action.contains(d)) {
        stats.denied.fetch_add(1, Ordering::Relaxed);
        return Ok(error(&service, "deny"));
    }
    let fault = if stats.faults() >= faults.budget {
        Fault::None
    } else if throttle.throttles(faults) {
        Fault::Throttle
    } else if faults.pattern.is_empty() {
        Fault::None
    } else {
        faults.pattern[n as usize % faults.pattern.len()]
    };
    match fault {
        Fault::Throttle => {
            stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Ok(error(&service, "throttle"));
        }
        Fault::ErrorBefore => {
            stats.errors_before.fetch_add(1, Ordering::Relaxed);
            return Ok(error(&service, "error"));
        }
        _ => {}
    }
    let response = forward(parts, body, upstream).await;
    if fault == Fault::ErrorAfter {
        stats.errors_after.fetch_add(1, Ordering::Relaxed);
        return Ok(error(&service, "error"));
    }
    if response.as_ref().is_ok_and(|r| r.status().is_success()) {
        stats.succeeded.lock().unwrap().push(call);
    }
    Ok(response.unwrap_or_else(|e| {
        Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("proxy: {e}"))))
            .unwrap()
    }))
}

async fn forward(
    parts: hyper::http::request::Parts,
    body: Bytes,
    upstream: SocketAddr,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::from_parts(parts, Full::new(body));
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}
