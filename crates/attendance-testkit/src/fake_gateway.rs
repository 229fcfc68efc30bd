//! What the fake vendor gateways (`fake_feishu`, `fake_dingtalk`) share: a
//! test waits on a fake's state, woken on every change of it, for
//! connections and acks to arrive.

use std::time::Duration;

use tokio::sync::watch;

/// A fake vendor gateway a test can wait on. Import it to call these
/// methods on a `FakeFeishu` or a `FakeDingTalk`.
#[allow(async_fn_in_trait)] // test code: no caller needs the future to be Send
pub trait FakeGateway: Sized {
    /// How error messages name the fake: `Feishu`, `DingTalk`.
    const VENDOR: &'static str;
    /// How long a wait lasts before it fails the test.
    const WAIT: Duration;
    /// What the fake records of an ack.
    type Ack: Clone;

    /// Ticks on every change of the fake's state.
    fn changes(&self) -> &watch::Sender<u64>;
    /// Connections open now.
    fn live_connections(&self) -> usize;
    /// Connections ever accepted.
    fn total_connections(&self) -> u64;
    /// Every ack received, in order.
    fn acks(&self) -> Vec<Self::Ack>;
    /// The message an ack answers.
    fn acked_message(ack: &Self::Ack) -> &str;

    /// The acks of one message, in order.
    fn acks_for(&self, message_id: &str) -> Vec<Self::Ack> {
        self.acks()
            .into_iter()
            .filter(|ack| Self::acked_message(ack) == message_id)
            .collect()
    }

    /// Waits until `probe` returns something (checked on every change of the
    /// fake), or fails the test after [`WAIT`](Self::WAIT).
    async fn wait_for<T>(&self, what: &str, mut probe: impl FnMut(&Self) -> Option<T>) -> T {
        let mut changes = self.changes().subscribe();
        let waited = tokio::time::timeout(Self::WAIT, async {
            loop {
                changes.borrow_and_update();
                if let Some(value) = probe(self) {
                    return value;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            panic!(
                "the fake {} waited {:?} for {what} in vain",
                Self::VENDOR,
                Self::WAIT
            )
        })
    }

    /// Waits until at least `n` acks of `message_id` arrived; returns them all.
    async fn wait_for_acks(&self, message_id: &str, n: usize) -> Vec<Self::Ack> {
        self.wait_for(&format!("{n} ack(s) of {message_id}"), |fake| {
            let acks = fake.acks_for(message_id);
            (acks.len() >= n).then_some(acks)
        })
        .await
    }

    /// Waits until exactly `n` connections are open.
    async fn wait_for_live_connections(&self, n: usize) {
        self.wait_for(&format!("{n} open connection(s)"), |fake| {
            (fake.live_connections() == n).then_some(())
        })
        .await
    }

    /// Waits until at least `n` connections were ever accepted.
    async fn wait_for_total_connections(&self, n: u64) {
        self.wait_for(&format!("{n} connection(s) in all"), |fake| {
            (fake.total_connections() >= n).then_some(())
        })
        .await
    }
}

/// Implements [`FakeGateway`] for a fake whose `inner` holds the `changes`
/// channel and whose state keeps `connections`, `total_connections` and
/// `acks` (each with the `message_id` it answers), as both fakes do.
macro_rules! impl_fake_gateway {
    ($fake:ty, $vendor:literal, $ack:ty) => {
        impl $crate::fake_gateway::FakeGateway for $fake {
            const VENDOR: &'static str = $vendor;
            const WAIT: std::time::Duration = WAIT;
            type Ack = $ack;

            fn changes(&self) -> &tokio::sync::watch::Sender<u64> {
                &self.inner.changes
            }

            fn live_connections(&self) -> usize {
                self.inner.state().connections.len()
            }

            fn total_connections(&self) -> u64 {
                self.inner.state().total_connections
            }

            fn acks(&self) -> Vec<$ack> {
                self.inner.state().acks.clone()
            }

            fn acked_message(ack: &$ack) -> &str {
                &ack.message_id
            }
        }
    };
}
pub(crate) use impl_fake_gateway;
