//! The plumbing every vendor API client needs once: an access-token cache, a
//! per-app request pacer, bounded retries (the vendor's own wait or an
//! exponential backoff), and a [`CallMeter`] every request is reported to.
//!
//! A vendor client keeps only its vendor's part: endpoints, request and
//! answer shapes, and how an answer reads as an [`Attempt`] (done, retry,
//! token refused) or as an error. [`ApiClientCore`] runs the rest:
//!
//! ```text
//! authorized(path, fetch_token, attempt)
//!   └─ run: loop { token (cached) → attempt → Done | Retry (bounded) | TokenRefused (once) }
//!        └─ attempt: send (paced, then metered) → the vendor reads the answer
//!                    (an unreadable one is an HttpError)
//! ```

mod client;
mod http;
mod meter;
mod pacer;
mod retry;
mod token;

pub use client::{ApiClientCore, Attempt, GiveUp};
pub use http::{read_json, HttpError};
pub use meter::{CallMeter, NoMeter};
pub use pacer::Pacer;
pub use retry::{Backoff, RetryPolicy};
pub use token::{FreshToken, TokenCache};
