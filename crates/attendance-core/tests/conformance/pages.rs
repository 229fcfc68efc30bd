//! List pages across several tenants whose rows share every sort value: the
//! page order ends with the tenant, so a page boundary between two such rows
//! neither skips nor repeats one, and a token from before the tenant was in
//! it is refused.

use std::future::Future;

use attendance_core::Page;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::*;

/// Byte order: "T2" sorts before "t1" (a locale's order would not), as on SQLite.
const TENANTS: [&str; 3] = ["t1", "T2", "t3"];
const IN_PAGE_ORDER: [&str; 3] = ["T2", "t1", "t3"];
const SEP: char = '\u{1f}';

fn approval(tenant: &str, key: &str, seconds: i64) -> Approval {
    Approval {
        source: source(tenant),
        business_key: key.into(),
        employee_id: "u1".into(),
        start_time: Some(Timestamp { seconds, nanos: 0 }),
        end_time: Some(Timestamp {
            seconds: seconds + 3600,
            nanos: 0,
        }),
        ..Default::default()
    }
}

/// Every tenant gets the same rows: the same check time, vendor and record
/// key (two keys at one instant, one later), and likewise for shift results
/// and approvals.
async fn store_identical_rows(store: &Store) {
    for tenant in TENANTS {
        let facts = vec![
            Fact::Punch(punch(tenant, "r1", "u1", 100)),
            Fact::Punch(punch(tenant, "r2", "u1", 100)),
            Fact::Punch(punch(tenant, "r1-late", "u1", 200)),
            Fact::ShiftResult(shift_result(
                tenant,
                "u1",
                "2021-03-10",
                ShiftStatus::Normal,
            )),
            Fact::ShiftResult(shift_result(tenant, "u2", "2021-03-10", ShiftStatus::Late)),
            Fact::ShiftResult(shift_result(
                tenant,
                "u1",
                "2021-03-11",
                ShiftStatus::Normal,
            )),
            Fact::Approval(approval(tenant, "leave-1", 1000)),
            Fact::Approval(approval(tenant, "leave-2", 1000)),
            Fact::Approval(approval(tenant, "leave-3", 2000)),
        ];
        store
            .commit(delivery(&format!("e-{tenant}"), facts))
            .await
            .unwrap();
    }
}

/// `(business key, tenant)` for each `key` in turn, each with every tenant in page order.
fn expected(keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .flat_map(|key| {
            IN_PAGE_ORDER
                .iter()
                .map(move |t| (key.to_string(), t.to_string()))
        })
        .collect()
}

/// Lists every page, following next_page_token from the first, in each
/// scope and page size (0: the default), and checks that the items are `want`
/// (`(business key, tenant)`, as `key` reads them), each once, in that order.
async fn assert_pages<T, F, Fut>(
    want: &[(String, String)],
    list: F,
    key: impl Fn(&T) -> (String, &Option<Source>),
) where
    F: Fn(TenantScope, i32, String) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    for scope in scopes() {
        for page_size in [1, 2, 4, 0] {
            let mut pages = Vec::new();
            let mut token = String::new();
            loop {
                let page = list(scope.clone(), page_size, token).await.unwrap();
                assert!(page_size == 0 || page.items.len() <= page_size as usize);
                pages.push(page.items);
                if page.next_page_token.is_empty() {
                    break;
                }
                assert!(pages.len() <= 100, "the pages never end");
                token = page.next_page_token;
            }
            assert_eq!(
                keyed(&pages, &key),
                want,
                "{scope:?}, page size {page_size}"
            );
        }
    }
}

fn keyed<T>(
    pages: &[Vec<T>],
    key: &impl Fn(&T) -> (String, &Option<Source>),
) -> Vec<(String, String)> {
    pages
        .iter()
        .flatten()
        .map(|item| {
            let (business_key, source) = key(item);
            (business_key, source.as_ref().unwrap().tenant.clone())
        })
        .collect()
}

fn scopes() -> [TenantScope; 2] {
    [
        TenantScope::All,
        TenantScope::Only(TENANTS.iter().map(|t| t.to_string()).collect()),
    ]
}

/// A token as a hub issued it before tokens carried the tenant (version 1),
/// for the same request and position as `current` (a version 2 token).
fn without_tenant(current: &str) -> String {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(current).unwrap()).unwrap();
    let parts: Vec<&str> = text.splitn(6, SEP).collect();
    let [version, print, vendor, sort_key_len, tenant_len, strings] = parts.as_slice() else {
        panic!("not a version 2 token: {text:?}");
    };
    assert_eq!(*version, "2");
    let (sort_key, rest) = strings.split_at(sort_key_len.parse().unwrap());
    let business_key = &rest[tenant_len.parse().unwrap()..];
    URL_SAFE_NO_PAD.encode(format!(
        "1{SEP}{print}{SEP}{sort_key}{SEP}{vendor}{SEP}{business_key}"
    ))
}

conformance! {
    punches_of_tenants_sharing_every_sort_value_come_once_in_tenant_order => |db: TestDatabase| async move {
        let store = open(&db).await;
        store_identical_rows(&store).await;
        assert_pages(&expected(&["r1", "r2", "r1-late"]), |scope, page_size, page_token| {
            let store = store.clone();
            async move { store.list_punches(&PunchQuery { scope, page_size, page_token, ..Default::default() }).await }
        }, |p: &Punch| (p.record_id.clone(), &p.source)).await;
    };

    shift_results_of_tenants_sharing_every_sort_value_come_once_in_tenant_order => |db: TestDatabase| async move {
        let store = open(&db).await;
        store_identical_rows(&store).await;
        let want = expected(&["u1/2021-03-10/1/on", "u2/2021-03-10/1/on", "u1/2021-03-11/1/on"]);
        assert_pages(&want, |scope, page_size, page_token| {
            let store = store.clone();
            async move { store.list_shift_results(&ShiftResultQuery { scope, page_size, page_token, ..Default::default() }).await }
        }, |s: &ShiftResult| (s.business_key.clone(), &s.source)).await;
    };

    approvals_of_tenants_sharing_every_sort_value_come_once_in_tenant_order => |db: TestDatabase| async move {
        let store = open(&db).await;
        store_identical_rows(&store).await;
        assert_pages(&expected(&["leave-1", "leave-2", "leave-3"]), |scope, page_size, page_token| {
            let store = store.clone();
            async move { store.list_approvals(&ApprovalQuery { scope, page_size, page_token, ..Default::default() }).await }
        }, |a: &Approval| (a.business_key.clone(), &a.source)).await;
    };

    a_page_token_without_the_tenant_is_refused_as_invalid => |db: TestDatabase| async move {
        let store = open(&db).await;
        store_identical_rows(&store).await;
        let [_, scope] = scopes();
        let query = PunchQuery { scope, page_size: 1, ..Default::default() };
        let first = store.list_punches(&query).await.unwrap();
        // Resuming after (100 s, Feishu, r1) without the tenant would skip the
        // other tenants' r1: the token is refused, and says what to do instead.
        let old = without_tenant(&first.next_page_token);
        match store.list_punches(&PunchQuery { page_token: old, ..query.clone() }).await {
            Err(StoreError::InvalidPageToken(reason)) => assert!(reason.contains("first page"), "{reason}"),
            other => panic!("expected an invalid page token, got {other:?}"),
        }
        // The current token resumes at the next tenant's r1.
        let second = store.list_punches(&PunchQuery { page_token: first.next_page_token, ..query }).await.unwrap();
        assert_eq!(keyed(&[second.items], &|p: &Punch| (p.record_id.clone(), &p.source)), [("r1".to_string(), "t1".to_string())]);
    };
}
