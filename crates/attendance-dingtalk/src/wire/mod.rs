//! Serde mirrors of what DingTalk sends and answers: Stream frames and their
//! ACKs, the HTTP callback body, query and reply, the attendance event bodies,
//! and the two pull responses (`getupdatedata`, failed pushes).
//!
//! The mirrors are lenient where DingTalk's own samples disagree with its
//! tables (numbers as strings and back, `DataList` vs `dataList`, `userid` vs
//! `userId`, `null` for empty lists) and strict nowhere else: deciding what is
//! required is translation's job. Unknown fields are ignored, never refused.

//!
//! One file per source: `frame.rs` (Stream), `callback.rs` (HTTP
//! callbacks), `event.rs` (event bodies), `answer.rs` (pull answers) and
//! `lenient.rs`, the field readers they share.

mod answer;
mod callback;
mod event;
mod frame;
mod lenient;

#[cfg(test)]
mod tests;

pub use answer::*;
pub use callback::*;
pub use event::*;
pub use frame::*;
pub(crate) use lenient::{kind_of, parse_i64};

// ---------------------------------------------------------------------------
// Event types (protocol §2).

/// 员工打卡 (a punch).
pub const ATTENDANCE_CHECK_RECORD: &str = "attendance_check_record";
/// 员工加班 (overtime converted to compensatory leave).
pub const ATTENDANCE_OVERTIME_DURATION: &str = "attendance_overtime_duration";
/// 请假/加班/出差/外出状态变更 (an attendance approval's status).
pub const ATTENDANCE_APPROVE_STATUS_CHANGE: &str = "attendance_approve_status_change";
/// 考勤结果变更 (an admin edited a day's result).
pub const ATTEND_BOSS_CHECK_CHANGE: &str = "attend_bossCheck_change";
/// 考勤日统计变更 (a day's summary was recomputed).
pub const ATTEND_USER_DAILY_SUMMARY_REFRESH: &str = "attend_user_daily_summary_refresh";
/// 审批实例 开始/结束/终止/删除 (an approval instance).
pub const BPMS_INSTANCE_CHANGE: &str = "bpms_instance_change";
/// 审批任务 开始/结束/转交 (one approver's task).
pub const BPMS_TASK_CHANGE: &str = "bpms_task_change";
/// The handshake pushed when a callback URL is saved in the console.
pub const CHECK_URL: &str = "check_url";
/// The ISV suite-creation handshake.
pub const CHECK_CREATE_SUITE_URL: &str = "check_create_suite_url";
