//! The opaque, totally ordered position of a log entry that subscribers resume from.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::StoreError;

const VERSION: u8 = 1;

/// A position in the log; `Cursor::BEGINNING` is before the first entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub(crate) i64);

impl Cursor {
    pub const BEGINNING: Cursor = Cursor(0);

    /// The log sequence number; exposed for diagnostics and tests only.
    pub fn sequence(self) -> i64 {
        self.0
    }

    /// The opaque text form handed to clients. Versioned so its layout can change.
    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(9);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.0.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| StoreError::InvalidCursor("not a cursor issued by this hub".into()))?;
        match bytes.as_slice() {
            [VERSION, rest @ ..] if rest.len() == 8 => {
                let seq = i64::from_be_bytes(rest.try_into().expect("length checked"));
                if seq < 0 {
                    return Err(StoreError::InvalidCursor("negative position".into()));
                }
                Ok(Cursor(seq))
            }
            _ => Err(StoreError::InvalidCursor(
                "not a cursor issued by this hub".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        for seq in [0, 1, 255, i64::MAX] {
            assert_eq!(Cursor::decode(&Cursor(seq).encode()).unwrap(), Cursor(seq));
        }
        assert!(Cursor::decode("not-a-cursor").is_err());
        assert!(Cursor::decode("").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode([2u8; 9])).is_err());
    }
}
