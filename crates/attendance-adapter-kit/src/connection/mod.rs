//! The supervised connection loop every vendor's outbound event connection
//! runs on (Feishu's long connection, DingTalk's Stream): the hub dials out,
//! events arrive as WebSocket frames, and each is acknowledged only after it
//! was committed.
//!
//! [`run`] supervises one app's connections:
//! - it opens a connection through the vendor's [`Protocol`] (registration or
//!   discovery, then the dial: see [`dial`]), and after a loss or a failed
//!   attempt opens another after the pause the protocol's reconnect policy
//!   asks for ([`Backoff`] is the exponential one with jitter); an error the
//!   protocol calls [`OpenError::Fatal`] ends the loop;
//! - a connection may ask to be replaced ([`Inbound::ReplyAndReplace`], or a
//!   read deadline with [`Silence::Replace`]): its successor is opened first
//!   and only then is it closed (make-before-break);
//! - it publishes the app's [`ConnectionState`] on a `watch` channel for
//!   health, and ends when the hub's `stop` turns true.
//!
//! Each connection is served by one task (`session`), the only reader and
//! the only writer of its socket. Every event is committed in its own task
//! through the [`DeliverySink`]; its ack goes back to the writer through a
//! channel once the commit returned, so a slow commit never holds up pings,
//! and the protocol's ack for a failed commit is the vendor's "deliver
//! again". A connection silent past the protocol's read deadline is presumed
//! half-open. Closing (replaced, or shutting down) waits briefly for the
//! commits in flight so that their acks still go out before the close frame.
//!
//! What is the vendor's (frames, fragments, pings, registration, how a
//! refused handshake reads) stays in the vendor's crate, behind [`Protocol`].

mod backoff;
mod dial;
mod session;
mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use attendance_proto::ingest::{Delivery, DeliverySink};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

pub use backoff::{jitter_below, Backoff};
pub use dial::{dial, DialError, Socket};
pub use state::{watched_connection, ConnectionState};

use session::{End, Notice, Session};

/// Why a connection could not be opened, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Busy or failing servers, network trouble: try again later.
    #[error("{0}")]
    Retryable(String),
    /// The vendor refused in a way retrying cannot change (bad credentials,
    /// a banned app): the loop gives up until a restart.
    #[error("{0}")]
    Fatal(String),
}

/// A connection the protocol opened.
pub struct Opened<L> {
    pub socket: Socket,
    /// The protocol's state for this connection (fragments, ids).
    pub link: L,
    /// What the logs say of the connection besides its number, e.g. Feishu's
    /// device id; never a secret (the URL carries tickets and is not logged).
    pub peer: String,
}

/// What an inbound frame asks of the connection.
pub enum Inbound<E> {
    Nothing,
    /// An event: commit it, then send the protocol's ack.
    Event(E),
    /// Answer at once (a ping echo, a refused payload's ack).
    Reply(Message),
    /// Answer at once, then replace this connection, make-before-break.
    ReplyAndReplace(Message, String),
}

/// What a connection silent past its read deadline gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silence {
    /// Torn down at once, then reconnected like any lost connection.
    Drop,
    /// Replaced, make-before-break: a quiet but healthy connection costs one
    /// reconnect and loses nothing.
    Replace,
}

/// How often a connection pings, and how long it may stay silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub keepalive: Duration,
    pub read_deadline: Duration,
}

/// A vendor's side of the connection: everything [`run`] cannot know.
#[async_trait::async_trait]
pub trait Protocol: Send + Sync + 'static {
    /// The protocol's state for one connection.
    type Link: Send + 'static;
    /// One event taken off a connection, waiting for its commit and ack.
    type Event: Send + 'static;

    /// How the logs name the connection, e.g. `feishu long connection`.
    const KIND: &'static str;
    /// Who redelivers what was not acknowledged, e.g. `Feishu`.
    const VENDOR: &'static str;
    /// Whether the first keepalive goes out as soon as the connection is up,
    /// or one interval later.
    const KEEPALIVE_AT_ONCE: bool;
    const SILENCE: Silence;

    /// The configured app name, for logs.
    fn app(&self) -> &str;
    /// One attempt to open a connection (registration, then the dial).
    async fn open(&self) -> Result<Opened<Self::Link>, OpenError>;
    /// The pause before the next attempt after `failures` consecutive
    /// failures (1 or more; a lost connection counts as one), or why the
    /// loop gives up instead.
    fn retry_pause(&self, failures: u32) -> Result<Duration, String>;
    /// Read again after every frame: a frame may change them.
    fn timings(&self, link: &Self::Link) -> Timings;
    /// The keepalive to send now.
    fn keepalive(&self, link: &mut Self::Link) -> Message;
    /// Whether `message` proves the connection alive (pushes the read
    /// deadline back, and makes a later loss reset the backoff). A half-open
    /// connection may still answer WebSocket pings.
    fn hears(&self, message: &Message) -> bool;
    /// A text or binary frame.
    fn on_frame(
        &self,
        link: &mut Self::Link,
        connection: u64,
        message: Message,
    ) -> Inbound<Self::Event>;
    /// The vendor's id of the message that carried `event`, for logs.
    fn message_id<'e>(&self, event: &'e Self::Event) -> &'e str;
    /// What to commit for `event`.
    fn delivery(&self, event: &Self::Event) -> Delivery;
    /// The ack of `event` once its commit returned (and was logged): success
    /// only when it is `durable`, the vendor's "deliver again" otherwise.
    fn acknowledge(&self, event: &Self::Event, durable: bool) -> Message;
}

/// Runs one app's connections until `shutdown` turns true (or its sender is
/// dropped), or until the protocol reports a fatal error. Events go to
/// `sink`; every change of state is published on `state`.
pub async fn run<P: Protocol>(
    protocol: P,
    sink: Arc<dyn DeliverySink>,
    state: watch::Sender<ConnectionState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let protocol = Arc::new(protocol);
    let app = protocol.app().to_owned();
    let kind = P::KIND;
    let (notice_tx, mut notices) = mpsc::unbounded_channel::<Notice>();
    let mut sessions: JoinSet<(u64, End)> = JoinSet::new();
    let mut task_sessions: HashMap<tokio::task::Id, u64> = HashMap::new();
    // The connection events are taken from, and its retirement switch.
    let mut current: Option<(u64, watch::Sender<bool>)> = None;
    // Connections being replaced: retired once their successor is up.
    let mut outgoing: Vec<watch::Sender<bool>> = Vec::new();
    let mut next_session = 0_u64;
    let mut failures = 0_u32;
    let mut pause = Duration::ZERO;
    let mut given_up: Option<String> = None;
    state.send_replace(ConnectionState::Connecting);

    loop {
        if current.is_none() {
            if !pause.is_zero() {
                tokio::select! {
                    _ = stopped(&mut shutdown) => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            let attempt = tokio::select! {
                _ = stopped(&mut shutdown) => break,
                attempt = protocol.open() => attempt,
            };
            match attempt {
                Ok(opened) => {
                    next_session += 1;
                    let (retire_tx, retire_rx) = watch::channel(false);
                    let session = Session {
                        id: next_session,
                        protocol: protocol.clone(),
                        sink: sink.clone(),
                        notices: notice_tx.clone(),
                    };
                    let handle = sessions.spawn(session.serve(
                        opened.socket,
                        opened.link,
                        retire_rx,
                        shutdown.clone(),
                    ));
                    task_sessions.insert(handle.id(), next_session);
                    // Make before break: the connections being replaced go
                    // only now that their successor is up.
                    for old in outgoing.drain(..) {
                        let _ = old.send(true);
                    }
                    current = Some((next_session, retire_tx));
                    pause = Duration::ZERO;
                    tracing::info!(%app, connection = next_session, peer = %opened.peer, outcome = "connected", "{kind} connected");
                    state.send_replace(ConnectionState::Connected);
                }
                Err(OpenError::Fatal(reason)) => {
                    given_up = Some(reason);
                    break;
                }
                Err(OpenError::Retryable(error)) => {
                    failures = failures.saturating_add(1);
                    match retry_pause(protocol.as_ref(), failures, &error) {
                        Ok(next) => pause = next,
                        Err(reason) => {
                            given_up = Some(reason);
                            break;
                        }
                    }
                    tracing::warn!(
                        %app,
                        attempt = failures,
                        retry_in_ms = pause.as_millis() as u64,
                        outcome = "connect_failed",
                        %error,
                        "{kind} could not connect"
                    );
                    state.send_replace(ConnectionState::Reconnecting {
                        attempt: failures,
                        last_error: error,
                    });
                    continue;
                }
            }
        }

        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            Some(notice) = notices.recv() => {
                if current.as_ref().is_some_and(|(id, _)| *id == notice.session) {
                    let (_, retire) = current.take().expect("checked above");
                    outgoing.push(retire);
                    pause = Duration::ZERO;
                    tracing::info!(
                        %app,
                        connection = notice.session,
                        reason = %notice.reason,
                        outcome = "replacing",
                        "{kind} opens a new connection before closing this one"
                    );
                }
            }
            Some(joined) = sessions.join_next_with_id() => {
                let (session, end) = match joined {
                    Ok((task, (session, end))) => {
                        task_sessions.remove(&task);
                        (session, end)
                    }
                    Err(error) => {
                        let session = task_sessions.remove(&error.id()).unwrap_or_default();
                        (session, End::Lost { reason: format!("the connection task failed: {error}"), heard: false })
                    }
                };
                if current.as_ref().is_some_and(|(id, _)| *id == session) {
                    current = None;
                    let (reason, heard) = match end {
                        End::Lost { reason, heard } => (reason, heard),
                        End::Closed => ("the connection closed".to_owned(), true),
                    };
                    if heard {
                        // A connection that worked starts the schedule afresh.
                        failures = 0;
                    }
                    failures = failures.saturating_add(1);
                    match retry_pause(protocol.as_ref(), failures, &reason) {
                        Ok(next) => pause = next,
                        Err(give_up) => {
                            given_up = Some(give_up);
                            break;
                        }
                    }
                    tracing::warn!(
                        %app,
                        connection = session,
                        retry_in_ms = pause.as_millis() as u64,
                        outcome = "lost",
                        %reason,
                        "{kind} connection lost; reconnecting"
                    );
                    state.send_replace(ConnectionState::Reconnecting { attempt: failures, last_error: reason });
                } else {
                    tracing::debug!(%app, connection = session, "a replaced {kind} connection ended");
                }
            }
        }
    }

    // Every session sees the shutdown too, and a loop that gave up retires
    // those being replaced: they stop taking events, send the acks of their
    // commits in flight and close. Dropping the set would abort them mid-ack.
    if given_up.is_some() {
        for old in outgoing.drain(..) {
            let _ = old.send(true);
        }
    }
    while sessions.join_next().await.is_some() {}
    drop((current, outgoing));
    match given_up {
        Some(reason) => {
            tracing::error!(%app, outcome = "failed", %reason, "{kind} gave up");
            state.send_replace(ConnectionState::Failed { reason });
        }
        None => {
            tracing::info!(%app, outcome = "stopped", "{kind} stopped");
            state.send_replace(ConnectionState::Stopped);
        }
    }
}

/// The protocol's pause before the next attempt, or why the loop gives up
/// (with the error that ended the last attempt).
fn retry_pause<P: Protocol>(
    protocol: &P,
    failures: u32,
    last_error: &str,
) -> Result<Duration, String> {
    protocol
        .retry_pause(failures)
        .map_err(|reason| format!("{reason}; last error: {last_error}"))
}

/// Publishes that `app`'s connection cannot run at all (its vendor could not
/// even build an HTTP client): only a restart tries again.
pub fn cannot_run(kind: &str, app: &str, reason: String, state: &watch::Sender<ConnectionState>) {
    tracing::error!(%app, outcome = "failed", %reason, "{kind}");
    state.send_replace(ConnectionState::Failed { reason });
}

/// Completes when shutdown (or retirement) is requested, or when nobody can
/// request it any more.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
