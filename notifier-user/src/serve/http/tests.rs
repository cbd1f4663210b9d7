use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    sync::atomic::Ordering::Relaxed,
};

use super::*;

struct Echo;

impl Handler for Echo {
    fn get(&self, path: &str) -> Reply {
        Reply::ok("text/plain", format!("path {path}\n"))
    }
}

struct Running {
    server: Server,
    addr: SocketAddr,
    stats: Arc<ServerStats>,
}

fn start(web: WebConfig) -> Running {
    let bound = Bound::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = bound.local_addr().unwrap();
    let stats = Arc::new(ServerStats::default());
    let server = bound.serve(web, Arc::new(Echo), stats.clone()).unwrap();
    Running {
        server,
        addr,
        stats,
    }
}

fn plain() -> WebConfig {
    WebConfig::plain()
}

/// Waits for a counter the server bumps after closing the connection a client saw end.
fn settles(counter: &AtomicU64, want: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counter.load(Relaxed) < want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(counter.load(Relaxed), want);
}

/// One request on its own connection; the whole response as text.
fn request(addr: SocketAddr, head: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("{head}\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_get_and_head_and_refuses_other_methods() {
    let Running {
        server,
        addr,
        stats,
    } = start(plain());
    let r = request(addr, "GET /metrics HTTP/1.1");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("path /metrics\n"), "{r}");
    let r = request(addr, "HEAD /metrics HTTP/1.1");
    assert!(
        r.starts_with("HTTP/1.1 200") && !r.contains("path /"),
        "{r}"
    );
    let r = request(addr, "POST /metrics HTTP/1.1");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    assert!(r.to_lowercase().contains("allow: get, head"), "{r}");
    let r = request(addr, "NONSENSE");
    assert!(r.starts_with("HTTP/1.1 400") || r.is_empty(), "{r}");
    assert_eq!(stats.requests.load(Relaxed), 3);
    settles(&stats.bad_requests, 2);
    assert_eq!(stats.connections.load(Relaxed), 4);
    server.shutdown().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn basic_auth_is_required_when_configured() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(&config, format!("basic_auth_users:\n  prom: '{hash}'\n")).unwrap();
    let Running {
        server: _server,
        addr,
        stats,
    } = start(WebConfig::load(&config).unwrap());
    let r = request(addr, "GET / HTTP/1.1");
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(r.contains("Basic realm=\"notifier-top\""), "{r}");
    // "prom:pw"
    let r = request(addr, "GET / HTTP/1.1\r\nAuthorization: Basic cHJvbTpwdw==");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    settles(&stats.auth_failures, 1);
}

#[test]
fn tls_serves_a_trusting_client_and_counts_a_plain_one() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("k.pem"), cert.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(
        &config,
        "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n",
    )
    .unwrap();
    let Running {
        server: _server,
        addr,
        stats,
    } = start(WebConfig::load(&config).unwrap());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(client), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    // The server closes without close_notify once the response is out; what was read stays.
    let _ = tls.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("path /healthz\n"),
        "{out}"
    );

    let r = request(addr, "GET / HTTP/1.1");
    assert!(!r.starts_with("HTTP/1.1 200"), "{r}");
    settles(&stats.tls_handshake_failures, 1);
}

#[test]
fn connections_beyond_the_bound_are_closed_and_counted() {
    let Running {
        server: _server,
        addr,
        stats,
    } = start(plain());
    let held: Vec<_> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    while stats.connections.load(Relaxed) < MAX_CONNECTIONS as u64 {
        std::thread::yield_now();
    }
    let mut extra = TcpStream::connect(addr).unwrap();
    let mut buf = [0; 1];
    assert_eq!(
        extra.read(&mut buf).unwrap(),
        0,
        "the extra connection is closed"
    );
    assert_eq!(stats.connections_refused.load(Relaxed), 1);
    drop(held);
}
