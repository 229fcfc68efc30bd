//! One punch record as a [`Punch`]: an item of `attendance_check_record`
//! or, equally, of the pull APIs, so that push and pull produce the same
//! fact for the same punch.

use attendance_adapter_kit::translation::{millis_timestamp, require};
use attendance_proto::v1::{Device, Location, Provenance, Punch, Source, Wifi};

use crate::mapping;
use crate::wire::CheckRecord;

/// Translates one punch record: an item of `attendance_check_record` or,
/// equally, of `/attendance/listRecord`, so that push and pull produce the
/// same fact for the same punch. `source.tenant` should already be resolved.
///
/// Sub-messages are set only when the record has something for them, so a
/// record without Wi-Fi data does not differ from one with empty Wi-Fi data.
pub fn punch_from_record(
    record: &CheckRecord,
    source: Source,
    provenance: Provenance,
    raw_json: &str,
) -> Result<Punch, String> {
    require("userId", &record.user_id)?;
    let check_ms = record.check_time.ok_or("checkTime is missing")?;
    let check_time = millis_timestamp(check_ms)
        .ok_or_else(|| format!("checkTime {check_ms} is out of range"))?;

    let name = if record.address.is_empty() {
        record.user_address.clone()
    } else {
        record.address.clone()
    };
    let location = (!name.is_empty()
        || record.latitude.is_some()
        || record.longitude.is_some()
        || record.user_accuracy.is_some())
    .then_some(Location {
        name,
        latitude: record.latitude,
        longitude: record.longitude,
        accuracy: record.user_accuracy,
    });
    let wifi = (!record.user_ssid.is_empty() || !record.user_mac_addr.is_empty()).then(|| Wifi {
        ssid: record.user_ssid.clone(),
        bssid: record.user_mac_addr.clone(),
    });
    let device = (!record.device_id.is_empty()
        || !record.device_sn.is_empty()
        || !record.device_name.is_empty())
    .then(|| Device {
        id: record.device_id.clone(),
        serial_number: record.device_sn.clone(),
        name: record.device_name.clone(),
    });

    let (origin, origin_original) = mapping::punch_origin(record);
    let (validity, validity_original, invalid_reason) = mapping::punch_validity(record);
    let corp = if source.tenant.is_empty() {
        record.corp_id.clone()
    } else {
        source.tenant.clone()
    };
    // The instant names the punch in every source (a pull of the day view
    // has no bizId, and DingTalk pushes one punch per person per minute).
    // `bizId` is not a key: `listRecord` documents it as an *associated
    // business* id and its own sample shows one bizId on two punches hours
    // apart, so keying on it would merge them.
    let business_key = format!("{corp}/{}/{check_ms}", record.user_id);
    let mut matching_keys = Vec::new();
    if !record.record_id.is_empty() {
        matching_keys.push(format!("record:{}", record.record_id));
    }
    let record_id = record.record_id.clone();
    Ok(Punch {
        source: Some(source),
        business_key,
        employee_id: record.user_id.clone(),
        // Not in the event; the user directory knows it.
        employee_no: String::new(),
        check_time: Some(check_time),
        location,
        wifi,
        device,
        method: mapping::punch_method(&record.location_method) as i32,
        method_original: record.location_method.clone(),
        field_punch: record.location_result == "Outside",
        origin: origin as i32,
        origin_original,
        // DingTalk reports no anti-cheating verdict.
        risk: 0,
        risk_original: String::new(),
        validity: validity as i32,
        validity_original,
        invalid_reason,
        comment: record.outside_remark.clone(),
        photo_urls: record.photo_url.clone(),
        record_id,
        provenance: Some(provenance),
        raw_json: raw_json.to_owned(),
        matching_keys,
        ..Punch::default()
    })
}
