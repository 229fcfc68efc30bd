//! One established connection: its task is the only reader and the only
//! writer of the socket; events commit in tasks of their own and their acks
//! come back to the writer through a channel.

use std::sync::Arc;
use std::time::Duration;

use attendance_proto::ingest::DeliverySink;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::{stopped, Inbound, Protocol, Silence, Socket};
use crate::outcome::CommitLog;

/// Commits in flight per connection; the rest wait their turn in their task,
/// never in the reader.
const MAX_CONCURRENT_COMMITS: usize = 16;
/// Events held per connection (committing or waiting to). Beyond this an
/// event is left unacknowledged for the vendor to redeliver, so a flood
/// cannot grow memory without bound.
const MAX_PENDING_EVENTS: usize = 256;
/// How long a connection being closed waits for its commits in flight, so
/// that their acks still go out. DingTalk drops a connection 10 s after its
/// `disconnect`, so this stays well below.
const CLOSE_DRAIN: Duration = Duration::from_secs(5);
/// How long to wait for the server's answer to our close frame.
const CLOSE_REPLY: Duration = Duration::from_secs(1);

/// A session asks the supervisor for a replacement.
pub(super) struct Notice {
    pub session: u64,
    pub reason: String,
}

/// How a connection's task ended.
pub(super) enum End {
    /// Closed by us (replaced, or shutting down), after its acks went out.
    Closed,
    /// Lost. `heard`: the connection proved alive at least once first.
    Lost { reason: String, heard: bool },
}

/// Why a connection is being closed, and until when its commits may finish.
struct Closing {
    deadline: Instant,
    shutdown: bool,
}

pub(super) struct Session<P: Protocol> {
    pub id: u64,
    pub protocol: Arc<P>,
    pub sink: Arc<dyn DeliverySink>,
    pub notices: mpsc::UnboundedSender<Notice>,
}

impl<P: Protocol> Session<P> {
    /// The connection's one loop: the only reader and the only writer.
    pub async fn serve(
        self,
        socket: Socket,
        mut link: P::Link,
        mut retire: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) -> (u64, End) {
        let app = self.protocol.app().to_owned();
        let kind = P::KIND;
        let (mut writer, mut reader) = socket.split();
        let (ack_tx, mut ack_rx) = mpsc::channel::<Message>(64);
        let commits = Arc::new(Semaphore::new(MAX_CONCURRENT_COMMITS));
        let mut in_flight = JoinSet::new();
        let mut timings = self.protocol.timings(&link);
        let mut last_keepalive = Instant::now();
        let mut next_keepalive = if P::KEEPALIVE_AT_ONCE {
            last_keepalive
        } else {
            last_keepalive + timings.keepalive
        };
        let mut deadline = Instant::now() + timings.read_deadline;
        // A replacement was asked for; the read deadline has done its job.
        let mut replacing = false;
        let mut heard = false;
        let mut closing: Option<Closing> = None;

        let end = loop {
            if closing.is_some() && in_flight.is_empty() && ack_rx.is_empty() {
                break End::Closed;
            }
            let shutting_down = closing.as_ref().is_some_and(|c| c.shutdown);
            let close_deadline = closing.as_ref().map(|c| c.deadline);
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown), if !shutting_down => {
                    let deadline = close_deadline.unwrap_or_else(|| Instant::now() + CLOSE_DRAIN);
                    closing = Some(Closing { deadline, shutdown: true });
                }
                // An error means the supervisor is gone: close as well.
                _ = stopped(&mut retire), if closing.is_none() => {
                    closing = Some(Closing { deadline: Instant::now() + CLOSE_DRAIN, shutdown: false });
                }
                Some(ack) = ack_rx.recv() => {
                    if let Err(error) = writer.send(ack).await {
                        break End::Lost { reason: format!("sending an ack failed: {error}"), heard };
                    }
                }
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep_until(close_deadline.unwrap_or(next_keepalive)), if close_deadline.is_some() => {
                    tracing::warn!(
                        %app,
                        connection = self.id,
                        pending = in_flight.len(),
                        "commits still running at close; {} will redeliver their events",
                        P::VENDOR
                    );
                    break End::Closed;
                }
                _ = tokio::time::sleep_until(next_keepalive) => {
                    let keepalive = self.protocol.keepalive(&mut link);
                    last_keepalive = Instant::now();
                    next_keepalive = last_keepalive + timings.keepalive;
                    if let Err(error) = writer.send(keepalive).await {
                        break End::Lost { reason: format!("sending a ping failed: {error}"), heard };
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !replacing && closing.is_none() => {
                    let reason = format!(
                        "nothing received for {} s: the connection is presumed dead",
                        timings.read_deadline.as_secs_f64()
                    );
                    tracing::warn!(%app, connection = self.id, outcome = "silent", %reason, "{kind} read deadline passed");
                    match P::SILENCE {
                        Silence::Drop => break End::Lost { reason, heard },
                        Silence::Replace => {
                            replacing = true;
                            self.replace(reason);
                        }
                    }
                }
                message = reader.next() => {
                    let message = match message {
                        None => break End::Lost { reason: "the server closed the connection".into(), heard },
                        Some(Err(error)) => break End::Lost { reason: format!("reading failed: {error}"), heard },
                        Some(Ok(message)) => message,
                    };
                    if self.protocol.hears(&message) {
                        heard = true;
                        deadline = Instant::now() + timings.read_deadline;
                    }
                    match message {
                        Message::Close(frame) => {
                            let detail = frame
                                .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                                .unwrap_or_default();
                            break End::Lost { reason: format!("the server closed the connection{detail}"), heard };
                        }
                        message @ (Message::Text(_) | Message::Binary(_)) => {
                            let inbound = self.protocol.on_frame(&mut link, self.id, message);
                            let (reply, replace) = match inbound {
                                Inbound::Nothing => (None, None),
                                Inbound::Event(event) => {
                                    self.take(event, shutting_down, &mut in_flight, &commits, &ack_tx);
                                    (None, None)
                                }
                                Inbound::Reply(reply) => (Some(reply), None),
                                Inbound::ReplyAndReplace(reply, reason) => (Some(reply), Some(reason)),
                            };
                            if let Some(reply) = reply {
                                if let Err(error) = writer.send(reply).await {
                                    break End::Lost { reason: format!("sending a reply failed: {error}"), heard };
                                }
                            }
                            if let Some(reason) = replace {
                                if !replacing && closing.is_none() {
                                    replacing = true;
                                    self.replace(reason);
                                }
                            }
                            // A frame may change the timings (Feishu's pongs do).
                            let changed = self.protocol.timings(&link);
                            if changed != timings {
                                timings = changed;
                                next_keepalive = last_keepalive + timings.keepalive;
                                deadline = Instant::now() + timings.read_deadline;
                            }
                        }
                        // WebSocket pings are answered by tungstenite.
                        _ => {}
                    }
                }
            }
        };

        match &end {
            End::Closed => {
                // Acks that are ready still go out before the close frame.
                while let Ok(ack) = ack_rx.try_recv() {
                    if writer.send(ack).await.is_err() {
                        break;
                    }
                }
                let shutting_down = closing.as_ref().is_some_and(|c| c.shutdown);
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: if shutting_down {
                        "shutting down"
                    } else {
                        "replaced"
                    }
                    .into(),
                };
                let _ = writer.send(Message::Close(Some(close))).await;
                // Wait briefly for the server's close reply, for a clean close.
                let _ = tokio::time::timeout(CLOSE_REPLY, async {
                    while let Some(Ok(message)) = reader.next().await {
                        if message.is_close() {
                            break;
                        }
                    }
                })
                .await;
                tracing::info!(
                    %app,
                    connection = self.id,
                    outcome = "closed",
                    reason = if shutting_down { "shutdown" } else { "replaced" },
                    "{kind} connection closed"
                );
                if shutting_down {
                    // Commits past the drain are aborted (rolled back, never
                    // acknowledged) so that the store can close.
                    in_flight.abort_all();
                } else {
                    in_flight.detach_all();
                }
            }
            End::Lost { .. } => {
                // Commits in flight still finish (the store deduplicates the
                // redelivery); only their acks have nowhere to go.
                in_flight.detach_all();
            }
        }
        (self.id, end)
    }

    fn replace(&self, reason: String) {
        let _ = self.notices.send(Notice {
            session: self.id,
            reason,
        });
    }

    /// Starts the commit of `event`, unless the connection is shutting down
    /// or already holds all it may: then no ack goes out, and the vendor
    /// redelivers.
    fn take(
        &self,
        event: P::Event,
        shutting_down: bool,
        in_flight: &mut JoinSet<()>,
        commits: &Arc<Semaphore>,
        acks: &mpsc::Sender<Message>,
    ) {
        let app = self.protocol.app();
        let message_id = self.protocol.message_id(&event);
        if shutting_down {
            tracing::info!(%app, connection = self.id, message_id, outcome = "deferred", "shutting down: the event is left for {} to redeliver", P::VENDOR);
        } else if in_flight.len() >= MAX_PENDING_EVENTS {
            tracing::warn!(%app, connection = self.id, message_id, pending = in_flight.len(), outcome = "deferred", "too many events in flight: left for {} to redeliver", P::VENDOR);
        } else {
            in_flight.spawn(commit_then_ack(
                self.protocol.clone(),
                self.sink.clone(),
                commits.clone(),
                event,
                acks.clone(),
                self.id,
            ));
        }
    }
}

/// Commits one event, then queues its ack: the protocol's success ack only
/// after the sink returned `Ok`, its "deliver again" otherwise.
async fn commit_then_ack<P: Protocol>(
    protocol: Arc<P>,
    sink: Arc<dyn DeliverySink>,
    commits: Arc<Semaphore>,
    event: P::Event,
    acks: mpsc::Sender<Message>,
    connection: u64,
) {
    let delivery = protocol.delivery(&event);
    let log = CommitLog::of(&delivery);
    let result = {
        // Closed never: the semaphore lives as long as the session's tasks.
        let _permit = commits.acquire().await;
        sink.commit(delivery).await
    };
    let outcome = tracing::info_span!(
        "connection_event",
        connection,
        message_id = protocol.message_id(&event)
    )
    .in_scope(|| log.record(&result));
    let ack = protocol.acknowledge(&event, outcome.is_durable());
    if acks.send(ack).await.is_err() {
        tracing::info!(
            app = %protocol.app(),
            connection,
            message_id = protocol.message_id(&event),
            outcome = "ack_lost",
            "the connection ended before the ack; {} will redeliver",
            P::VENDOR
        );
    }
}
