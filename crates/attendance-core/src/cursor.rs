//! The opaque, totally ordered position of a log entry that subscribers resume
//! from, tagged with the log that issued it and stamped with its entry.
//!
//! Layout (base64 URL-safe, no padding): version 2 is
//! `[2][8-byte log tag][8-byte seq][8-byte stamp]`, all big-endian. The tag is
//! derived from the log's id (`log_meta.log_id`), so a cursor from another
//! database is recognised whatever its position; the stamp is the named
//! entry's `received_at` in µs (0 when the position has no entry to vouch
//! for, such as the end of a scan window), so a cursor from a restored or
//! failed-over timeline is recognised once new writes pass it. Version 1
//! (`[1][8-byte seq]`) cursors were issued before the upgrade; they still
//! decode, untagged, and are checked for being ahead or expired only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::StoreError;

const UNTAGGED: u8 = 1;
const TAGGED: u8 = 2;

/// Which log issued a cursor: the first 8 bytes of SHA-256 of its log id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LogTag(pub(crate) u64);

impl LogTag {
    pub(crate) fn of(log_id: &str) -> LogTag {
        let digest = Sha256::digest(log_id.as_bytes());
        LogTag(u64::from_be_bytes(
            digest[..8]
                .try_into()
                .expect("a digest is longer than 8 bytes"),
        ))
    }
}

/// A position in the log; `Cursor::BEGINNING` is before the first entry.
/// Cursors order by position first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub(crate) seq: i64,
    /// `None` for a version 1 cursor.
    pub(crate) tag: Option<LogTag>,
    /// The named entry's `received_at` (µs); 0 when nothing vouches for it.
    pub(crate) stamp: i64,
}

impl Cursor {
    pub const BEGINNING: Cursor = Cursor {
        seq: 0,
        tag: None,
        stamp: 0,
    };

    /// A position in the log `tag` names; `stamp` 0 when no entry vouches for it.
    pub(crate) fn new(tag: LogTag, seq: i64, stamp: i64) -> Cursor {
        Cursor {
            seq,
            tag: Some(tag),
            stamp,
        }
    }

    /// The log sequence number; exposed for diagnostics and tests only.
    pub fn sequence(self) -> i64 {
        self.seq
    }

    /// The opaque text form handed to clients. Versioned so its layout can change.
    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(25);
        match self.tag {
            Some(tag) => {
                bytes.push(TAGGED);
                bytes.extend_from_slice(&tag.0.to_be_bytes());
                bytes.extend_from_slice(&self.seq.to_be_bytes());
                bytes.extend_from_slice(&self.stamp.to_be_bytes());
            }
            None => {
                bytes.push(UNTAGGED);
                bytes.extend_from_slice(&self.seq.to_be_bytes());
            }
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let foreign = || StoreError::InvalidCursor("not a cursor issued by this hub".into());
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| foreign())?;
        let word = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let cursor = match (bytes.first(), bytes.len()) {
            (Some(&UNTAGGED), 9) => Cursor {
                seq: word(1),
                tag: None,
                stamp: 0,
            },
            (Some(&TAGGED), 25) => Cursor {
                tag: Some(LogTag(word(1) as u64)),
                seq: word(9),
                stamp: word(17),
            },
            _ => return Err(foreign()),
        };
        if cursor.seq < 0 {
            return Err(StoreError::InvalidCursor("negative position".into()));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untagged(seq: i64) -> Cursor {
        Cursor {
            seq,
            tag: None,
            stamp: 0,
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        for seq in [0, 1, 255, i64::MAX] {
            assert_eq!(
                Cursor::decode(&untagged(seq).encode()).unwrap(),
                untagged(seq)
            );
        }
        assert!(Cursor::decode("not-a-cursor").is_err());
        assert!(Cursor::decode("").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode([2u8; 9])).is_err());
    }

    #[test]
    fn tagged_cursors_round_trip_and_order_by_position() {
        let tag = LogTag::of("0123456789abcdef0123456789abcdef");
        let entry = Cursor::new(tag, 42, 1_700_000_000_000_000);
        assert_eq!(Cursor::decode(&entry.encode()).unwrap(), entry);
        let window_end = Cursor::new(tag, 43, 0);
        assert_eq!(Cursor::decode(&window_end.encode()).unwrap(), window_end);
        assert!(window_end > entry);
        assert_ne!(LogTag::of("another log"), tag);
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode([2u8; 24])).is_err());
        let mut negative = vec![2u8];
        negative.extend_from_slice(&[0; 8]);
        negative.extend_from_slice(&(-1i64).to_be_bytes());
        negative.extend_from_slice(&[0; 8]);
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(negative)).is_err());
    }
}
