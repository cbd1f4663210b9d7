//! The HTTP side of `serve`: HTTP/1.1 (optionally over TLS, optionally behind basic auth)
//! on a thread of its own, so a slow or hostile client can never stall the capture. Only
//! GET and HEAD exist; everything a client did wrong is counted in [`ServerStats`], which
//! `/metrics` exports beside the model.

use std::{
    convert::Infallible,
    net::{SocketAddr, TcpListener as StdListener},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use log::{debug, warn};
use tokio::{io::AsyncRead, io::AsyncWrite, net::TcpListener, sync::oneshot};
use tokio_rustls::TlsAcceptor;

use super::{
    metrics::Family,
    web_config::{Users, WebConfig},
};

/// Connections served at once; more are closed on arrival (and counted). A scraper needs
/// one; the bound keeps a flood from costing more than a few file descriptors.
const MAX_CONNECTIONS: usize = 64;
/// A client that has not sent its request head (or finished its TLS handshake) by then is
/// dropped: slow-loris connections would otherwise hold slots forever.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// On shutdown, requests in progress get this long to finish.
const DRAIN: Duration = Duration::from_secs(2);

/// What a path serves.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
        }
    }

    pub fn text(status: StatusCode, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(body.into()),
        }
    }
}

/// The pages. Called on a blocking thread: a handler may wait (a snapshot waits for the
/// capture's next upkeep).
pub trait Handler: Send + Sync + 'static {
    fn get(&self, path: &str) -> Reply;
}

/// The server's own counters.
#[derive(Default, Debug)]
pub struct ServerStats {
    pub connections: AtomicU64,
    pub connections_refused: AtomicU64,
    pub requests: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    pub auth_failures: AtomicU64,
    pub bad_requests: AtomicU64,
}

impl ServerStats {
    /// As metric families, for `/metrics`.
    pub fn families(&self) -> Vec<Family> {
        let f = |name, help, v: &AtomicU64| Family {
            name,
            help,
            value: v.load(Relaxed),
        };
        vec![
            f(
                "http_connections",
                "Connections accepted.",
                &self.connections,
            ),
            f(
                "http_connections_refused",
                "Connections closed on arrival: too many open.",
                &self.connections_refused,
            ),
            f("http_requests", "HTTP requests received.", &self.requests),
            f(
                "http_tls_handshake_failures",
                "TLS handshakes that failed or timed out.",
                &self.tls_handshake_failures,
            ),
            f(
                "http_auth_failures",
                "Requests refused for missing or wrong credentials.",
                &self.auth_failures,
            ),
            f(
                "http_bad_requests",
                "Malformed or timed-out requests, and methods other than GET and HEAD.",
                &self.bad_requests,
            ),
        ]
    }
}

/// A bound listening socket, not yet serving: binding comes first so that a port in use
/// is an error before any probe is loaded, serving comes once privileges are dropped so
/// that no server thread ever holds them.
pub struct Bound {
    listener: StdListener,
}

impl Bound {
    pub fn bind(addr: SocketAddr) -> Result<Bound> {
        let listener = StdListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
        listener
            .set_nonblocking(true)
            .context("making the listener non-blocking")?;
        Ok(Bound { listener })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Starts serving on a new thread, counting into `stats`.
    pub fn serve(
        self,
        web: WebConfig,
        handler: Arc<dyn Handler>,
        stats: Arc<ServerStats>,
    ) -> Result<Server> {
        let (stop, stopped) = oneshot::channel();
        let context = Arc::new(State {
            tls: web.tls.map(TlsAcceptor::from),
            users: web.users,
            handler,
            stats: stats.clone(),
            active: AtomicUsize::new(0),
        });
        let listener = self.listener;
        let thread = std::thread::Builder::new()
            .name("notifier-top-http".into())
            .spawn(move || -> Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the HTTP runtime")?;
                rt.block_on(accept_loop(listener, context, stopped))
            })
            .context("starting the HTTP thread")?;
        Ok(Server {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running server; [`Server::shutdown`] (or drop) stops it.
pub struct Server {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Server {
    /// Stops accepting, lets requests in progress finish (up to [`DRAIN`]), and returns
    /// what ended the server if it failed on its own.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the HTTP thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            warn!("HTTP server: {e:#}");
        }
    }
}

struct State {
    tls: Option<TlsAcceptor>,
    users: Option<Users>,
    handler: Arc<dyn Handler>,
    stats: Arc<ServerStats>,
    active: AtomicUsize,
}

/// Holds one of the [`MAX_CONNECTIONS`] slots.
struct Slot(Arc<State>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Relaxed);
    }
}

async fn accept_loop(
    listener: StdListener,
    cx: Arc<State>,
    mut stopped: oneshot::Receiver<()>,
) -> Result<()> {
    let listener = TcpListener::from_std(listener).context("registering the listener")?;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    // Out of descriptors, or a connection reset before accept: the next
                    // accept may well succeed; a short pause keeps this from spinning.
                    Err(e) => {
                        warn!("HTTP accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                cx.stats.connections.fetch_add(1, Relaxed);
                if cx.active.fetch_add(1, Relaxed) >= MAX_CONNECTIONS {
                    cx.active.fetch_sub(1, Relaxed);
                    cx.stats.connections_refused.fetch_add(1, Relaxed);
                    continue;
                }
                let slot = Slot(cx.clone());
                connections.spawn(async move { connection(stream, peer, slot).await });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!("HTTP: {} connections cut at shutdown", connections.len());
        connections.abort_all();
    }
    Ok(())
}

async fn connection(stream: tokio::net::TcpStream, peer: SocketAddr, slot: Slot) {
    let cx = slot.0.clone();
    match &cx.tls {
        None => http(stream, peer, &cx).await,
        Some(tls) => match tokio::time::timeout(HEAD_TIMEOUT, tls.accept(stream)).await {
            Ok(Ok(stream)) => http(stream, peer, &cx).await,
            Ok(Err(e)) => {
                cx.stats.tls_handshake_failures.fetch_add(1, Relaxed);
                debug!("HTTP {peer}: TLS handshake: {e}");
            }
            Err(_) => {
                cx.stats.tls_handshake_failures.fetch_add(1, Relaxed);
                debug!("HTTP {peer}: TLS handshake timed out");
            }
        },
    }
    drop(slot);
}

async fn http<S>(stream: S, peer: SocketAddr, cx: &Arc<State>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let cx = cx.clone();
        service_fn(move |req| {
            let cx = cx.clone();
            async move { Ok::<_, Infallible>(respond(&cx, req).await) }
        })
    };
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        if e.is_parse() || e.is_timeout() {
            cx.stats.bad_requests.fetch_add(1, Relaxed);
        }
        debug!("HTTP {peer}: {e}");
    }
}

async fn respond(cx: &Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    cx.stats.requests.fetch_add(1, Relaxed);
    if cx.users.is_some() {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .map(<[u8]>::to_vec);
        let state = cx.clone();
        // bcrypt is slow on purpose: off the connection's task.
        let allowed = tokio::task::spawn_blocking(move || {
            state
                .users
                .as_ref()
                .is_some_and(|u| u.allows(authorization.as_deref()))
        })
        .await
        .unwrap_or(false);
        if !allowed {
            cx.stats.auth_failures.fetch_add(1, Relaxed);
            let mut r = reply(Reply::text(StatusCode::UNAUTHORIZED, "Unauthorized\n"));
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"notifier-top\""),
            );
            return r;
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        cx.stats.bad_requests.fetch_add(1, Relaxed);
        let mut r = reply(Reply::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET and HEAD\n",
        ));
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path().to_owned();
    let handler = cx.handler.clone();
    match tokio::task::spawn_blocking(move || handler.get(&path)).await {
        Ok(r) => reply(r),
        Err(e) => {
            warn!("HTTP handler: {e}");
            reply(Reply::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error\n",
            ))
        }
    }
}

fn reply(r: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(r.body));
    *response.status_mut() = r.status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    response
}

#[cfg(test)]
mod tests;
