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
/// Pages are ordered by `(sort_key, vendor, business_key, tenant)`: the tenant
/// comes last because a scope may span several tenants, whose rows can share
/// every other value, and only with it is the order total (it completes the
/// primary key), so a boundary between two such rows neither skips nor repeats.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PageToken {
    pub sort_key: String,
    pub vendor: i64,
    pub business_key: String,
    pub tenant: String,
}

const SEP: char = '\u{1f}';
/// Version 2 carries the tenant. Version 1 (`1␟print␟sort key␟vendor␟business
/// key`) did not, and cannot be resumed correctly: after it, the rows of other
/// tenants with the same sort key, vendor and business key could not be told
/// from the ones already returned, so it is refused rather than guessed.
const VERSION: &str = "2";
const WITHOUT_TENANT: &str = "1";

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
    /// `2␟print␟vendor␟len(sort key)␟len(tenant)␟sort key tenant business key`:
    /// the strings go last, measured in bytes, so a separator inside a tenant
    /// or a business key (both the vendor's text) cannot shift the fields.
    pub fn encode(&self, filter: &str) -> String {
        let text = format!(
            "{VERSION}{SEP}{}{SEP}{}{SEP}{}{SEP}{}{SEP}{}{}{}",
            fingerprint(filter),
            self.vendor,
            self.sort_key.len(),
            self.tenant.len(),
            self.sort_key,
            self.tenant,
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
        let parts: Vec<&str> = text.splitn(6, SEP).collect();
        match parts.first() {
            Some(&VERSION) => {}
            Some(&WITHOUT_TENANT) => {
                return Err(StoreError::InvalidPageToken(
                    "the page token was issued by an older hub whose pages were not ordered by \
                     tenant; list again from the first page (without a page token)"
                        .into(),
                ))
            }
            _ => return Err(invalid()),
        }
        let [_, print, vendor, sort_key_len, tenant_len, strings] = parts.as_slice() else {
            return Err(invalid());
        };
        if *print != fingerprint(filter) {
            return Err(StoreError::InvalidPageToken(
                "the page token belongs to a request with other filters".into(),
            ));
        }
        let sort_key_len: usize = sort_key_len.parse().map_err(|_| invalid())?;
        let tenant_len: usize = tenant_len.parse().map_err(|_| invalid())?;
        let (sort_key, rest) = split(strings, sort_key_len).ok_or_else(invalid)?;
        let (tenant, business_key) = split(rest, tenant_len).ok_or_else(invalid)?;
        Ok(Some(PageToken {
            sort_key: sort_key.to_owned(),
            vendor: vendor.parse().map_err(|_| invalid())?,
            business_key: business_key.to_owned(),
            tenant: tenant.to_owned(),
        }))
    }
}

/// `text` cut after `len` bytes, if that is within it and on a character boundary.
fn split(text: &str, len: usize) -> Option<(&str, &str)> {
    Some((text.get(..len)?, text.get(len..)?))
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
            tenant: "t1".into(),
        };
        let text = token.encode("tenant=t");
        assert_eq!(PageToken::decode(&text, "tenant=t").unwrap(), Some(token));
        assert!(PageToken::decode(&text, "tenant=u").is_err());
        assert!(PageToken::decode("garbage!", "tenant=t").is_err());
        assert_eq!(PageToken::decode("", "x").unwrap(), None);
    }

    #[test]
    fn separators_and_wide_characters_inside_the_strings_survive() {
        let token = PageToken {
            sort_key: "2021-03-10".into(),
            vendor: 2,
            business_key: format!("k{SEP}1{SEP}"),
            tenant: format!("租户{SEP}7"),
        };
        let text = token.encode("f");
        assert_eq!(PageToken::decode(&text, "f").unwrap(), Some(token));
        // A length that would cut a character in two is not a token.
        let cut = format!(
            "{VERSION}{SEP}{}{SEP}1{SEP}0{SEP}1{SEP}租k",
            fingerprint("f")
        );
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode(cut), "f").is_err());
    }

    #[test]
    fn a_token_without_the_tenant_is_refused_with_its_reason() {
        let old = format!("1{SEP}{}{SEP}2021-03-10{SEP}1{SEP}a/b", fingerprint("f"));
        match PageToken::decode(&URL_SAFE_NO_PAD.encode(old), "f") {
            Err(StoreError::InvalidPageToken(reason)) => assert!(reason.contains("first page")),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
