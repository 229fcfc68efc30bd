//! Short lower-case names of the model's enums, as logs, app routes and
//! metrics labels write them: one spelling everywhere.

use crate::v1::{Channel, Vendor};

pub fn vendor_name(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Feishu => "feishu",
        Vendor::Dingtalk => "dingtalk",
        Vendor::Unspecified => "unspecified",
    }
}

pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Webhook => "webhook",
        Channel::LongConnection => "long_connection",
        Channel::Stream => "stream",
        Channel::HttpCallback => "http_callback",
        Channel::Pull => "pull",
        Channel::FailedPushRecovery => "failed_push_recovery",
        Channel::Unspecified => "unspecified",
    }
}
