//! A minimal OpenLineage collector on loopback, for the lineage tests (tests/openlineage.rs
//! against the fake API server, tests/e2e.rs against a real cluster).

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// What the collector saw: (authorization header, body) per accepted request.
pub type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// A minimal HTTP/1.1 collector on loopback: answers 503 to the first `refuse` requests, then
/// 200, recording what it accepted.
pub async fn collector(refuse: usize) -> (String, Seen, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/lineage", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let refused = Arc::new(Mutex::new(0usize));
    let (s, r) = (seen.clone(), refused.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, refused) = (s.clone(), r.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let (mut length, mut auth) = (0usize, String::new());
                    let mut line = String::new();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            match k.to_ascii_lowercase().as_str() {
                                "content-length" => length = v.trim().parse().unwrap_or(0),
                                "authorization" => auth = v.trim().to_string(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let answer = {
                        let mut n = refused.lock().unwrap();
                        if *n < refuse {
                            *n += 1;
                            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                        } else {
                            let event = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            seen.lock().unwrap().push((auth, event));
                            "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
                        }
                    };
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen, refused)
}
