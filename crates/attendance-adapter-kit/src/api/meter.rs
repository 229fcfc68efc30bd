//! The call meter: every request an app sends is counted, so operators see
//! its monthly budget go (both vendors bill or cap calls per month).

/// Counts the calls an app makes. One implementation serves every vendor:
/// the app name is all it is told.
pub trait CallMeter: Send + Sync + 'static {
    fn record_call(&self, app: &str);
}

/// A meter that counts nothing, for callers that do not meter.
pub struct NoMeter;

impl CallMeter for NoMeter {
    fn record_call(&self, _app: &str) {}
}
