//! List queries over the current revision of facts, with AIP-158 pagination:
//! an opaque page token that resumes after the last item and is bound to the filter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::StoreError;

pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The tenants a list query may read, apart from the one it may name: the
/// caller's grant. `Only` with no tenant reads nothing, so a grant can never
/// widen into every tenant by being empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TenantScope {
    #[default]
    All,
    Only(Vec<String>),
}

/// Punches with check time in `[start_us, end_us)`.
#[derive(Clone, Debug, Default)]
pub struct PunchQuery {
    pub tenant: String,
    pub scope: TenantScope,
    pub employee_id: String,
    /// 0 matches every vendor.
    pub vendor: i32,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub page_size: i32,
    pub page_token: String,
}

/// Shift results with work date in `[work_date_from, work_date_to]` (ISO dates).
#[derive(Clone, Debug, Default)]
pub struct ShiftResultQuery {
    pub tenant: String,
    pub scope: TenantScope,
    pub employee_id: String,
    pub vendor: i32,
    pub work_date_from: String,
    pub work_date_to: String,
    pub page_size: i32,
    pub page_token: String,
}

/// Approvals whose span overlaps `[start_us, end_us)`.
#[derive(Clone, Debug, Default)]
pub struct ApprovalQuery {
    pub tenant: String,
    pub scope: TenantScope,
    pub employee_id: String,
    pub vendor: i32,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub page_size: i32,
    pub page_token: String,
}

/// One page of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Empty when this is the last page.
    pub next_page_token: String,
}

/// The position after which the next page starts, plus the filter it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PageToken {
    pub sort_key: String,
    pub vendor: i64,
    pub business_key: String,
}

const SEP: char = '\u{1f}';

pub(crate) fn page_size(requested: i32) -> Result<i64, StoreError> {
    match i64::from(requested) {
        n if n < 0 => Err(StoreError::InvalidArgument {
            field: "page_size",
            reason: "must not be negative".into(),
        }),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

fn fingerprint(filter: &str) -> String {
    hex_prefix(&Sha256::digest(filter.as_bytes()))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl PageToken {
    pub fn encode(&self, filter: &str) -> String {
        let text = format!(
            "1{SEP}{}{SEP}{}{SEP}{}{SEP}{}",
            fingerprint(filter),
            self.sort_key,
            self.vendor,
            self.business_key
        );
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Decodes a token; a token issued for another filter is rejected, as AIP-158 asks.
    pub fn decode(token: &str, filter: &str) -> Result<Option<PageToken>, StoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || StoreError::InvalidPageToken("not a page token issued by this hub".into());
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let parts: Vec<&str> = text.splitn(5, SEP).collect();
        let [version, print, sort_key, vendor, business_key] = parts.as_slice() else {
            return Err(invalid());
        };
        if *version != "1" {
            return Err(invalid());
        }
        if *print != fingerprint(filter) {
            return Err(StoreError::InvalidPageToken(
                "the page token belongs to a request with other filters".into(),
            ));
        }
        Ok(Some(PageToken {
            sort_key: sort_key.to_string(),
            vendor: vendor.parse().map_err(|_| invalid())?,
            business_key: business_key.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_filter() {
        let token = PageToken {
            sort_key: "2021-03-10".into(),
            vendor: 1,
            business_key: "a/b".into(),
        };
        let text = token.encode("tenant=t");
        assert_eq!(PageToken::decode(&text, "tenant=t").unwrap(), Some(token));
        assert!(PageToken::decode(&text, "tenant=u").is_err());
        assert!(PageToken::decode("garbage!", "tenant=t").is_err());
        assert_eq!(PageToken::decode("", "x").unwrap(), None);
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
