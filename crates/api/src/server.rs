//! Serving the router on a TCP listener: HTTP/1.1 through hyper with a bound on how long a
//! client may take to send its headers, the client's address handed to the handlers (for the
//! audit log), and a graceful stop.
//!
//! Stopping: [`Api::begin_shutdown`] makes every new request answer 503 (a load balancer moves
//! on to another process) while requests in flight finish; then the listener closes, and
//! connections still open are asked to close after their current exchange.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::auth::RemoteAddr;
use crate::state::Api;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stop waits for requests in flight, then for connections to close.
const DRAIN: Duration = Duration::from_secs(10);

/// A bound listener, not yet serving.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    address: SocketAddr,
}

impl Listener {
    /// Binds `address` now, so that a taken port fails the start.
    pub async fn bind(address: SocketAddr) -> anyhow::Result<Listener> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|error| anyhow::anyhow!("cannot serve HTTP on {address}: {error}"))?;
        let address = listener.local_addr()?;
        Ok(Listener { listener, address })
    }

    /// The bound address (the port chosen when `:0` was asked).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `router` until `stop` completes, then stops as the module says.
    pub async fn serve(self, router: Router, api: Arc<Api>, stop: impl Future<Output = ()>) {
        let (closing, closed) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, remote) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: wait a little, keep serving.
                            tracing::warn!(%error, "accepting an HTTP connection failed");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, remote, router.clone(), closed.clone()));
                }
                () = &mut stop => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // New requests are answered 503 from here on, on the connections still open; the
        // listener keeps accepting while requests in flight finish, so that a client is told
        // "shutting down" rather than refused.
        api.begin_shutdown();
        let drained = async {
            api.drained().await;
        };
        tokio::pin!(drained);
        let deadline = tokio::time::sleep(DRAIN);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut drained => break,
                () = &mut deadline => {
                    tracing::warn!("requests still in flight after {DRAIN:?}: closing anyway");
                    break;
                }
                accepted = self.listener.accept() => {
                    if let Ok((stream, remote)) = accepted {
                        connections.spawn(connection(stream, remote, router.clone(), closed.clone()));
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(self.listener);
        let _ = closing.send(true);
        let closed_all = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN, closed_all).await.is_err() {
            connections.abort_all();
        }
    }
}

/// One client connection: its requests carry its address; it closes gracefully when `closed`
/// turns true.
async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    router: Router,
    mut closed: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(RemoteAddr(remote));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let serving = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(serving);
    tokio::select! {
        result = serving.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "an HTTP connection ended with an error");
            }
            return;
        }
        _ = closed.wait_for(|closed| *closed) => {}
    }
    serving.as_mut().graceful_shutdown();
    let _ = serving.await;
}
