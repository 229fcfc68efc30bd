//! The pull-response mirrors against the API fixtures, and failed pushes
//! read back into the event bodies translation uses.

use attendance_dingtalk::wire::{
    BpmsChange, CheckRecordEvent, FailedResultResponse, FailedResultsV1, GetUpdateDataResponse,
};
use serde_json::json;

use crate::support::{FAILED_RESULT, GETUPDATEDATA};

#[test]
fn getupdatedata_reads_every_list() {
    let response: GetUpdateDataResponse = serde_json::from_str(GETUPDATEDATA).unwrap();
    assert_eq!(response.errcode, Some(0));
    assert_eq!(response.success, Some(true));
    assert_eq!(response.request_id, "f1zwcp4fr28h");
    let result = response.result.unwrap();
    assert_eq!(result.userid, "user01");
    assert_eq!(result.corp_id, "dinge8a1b2c3");
    assert_eq!(result.work_date, "2021-01-14 09:00:00");
    assert!(result.approve_list.is_empty());

    let [check_point] = result.attendance_result_list.try_into().unwrap();
    assert_eq!(
        check_point.record_id, "53429818546",
        "a number read as text"
    );
    assert_eq!(check_point.plan_id, "176929277767");
    assert_eq!(check_point.class_id, "709595172");
    assert_eq!(check_point.group_id, "710705191");
    assert_eq!(check_point.check_type, "OnDuty");
    assert_eq!(check_point.time_result, "Late");
    assert_eq!(check_point.location_result, "Normal");
    assert_eq!(check_point.location_method, "MAP");
    assert_eq!(check_point.source_type, "USER");
    assert_eq!(check_point.user_check_time, "2021-01-14 11:21:59");
    assert_eq!(check_point.plan_check_time, "2021-01-14 09:00:00");
    assert_eq!(check_point.user_address, "绿城未来park");

    let [punch] = result.check_record_list.try_into().unwrap();
    assert_eq!(punch.record_id, "52710882700");
    assert_eq!(punch.valid_matched, Some(false));
    assert_eq!(punch.user_accuracy, Some(15.0), "a string read as a number");
    assert_eq!(punch.user_latitude, Some(30.286036));
    assert_eq!(punch.user_longitude, Some(120.017267));
    assert_eq!(punch.invalid_record_type, "Other");
    assert_eq!(punch.invalid_record_msg, "外勤打卡需要审批");
}

#[test]
fn getupdatedata_approvals_and_rest_times_read() {
    let response: GetUpdateDataResponse = serde_json::from_value(json!({
        "errcode": 0,
        "result": {
            "approve_list": [{"duration_unit": "DAY", "duration": "1.0", "sub_type": "年假",
                              "tag_name": "请假", "procInst_id": "p-1", "begin_time": "2021-01-14 09:00:00",
                              "end_time": "2021-01-14 18:00:00", "gmt_finished": "2021-01-13 10:00:00",
                              "biz_type": 3}],
            "class_setting_info": {"rest_time_vo_list": [{"rest_begin_time": "12:00", "rest_end_time": "13:00"}]},
            "check_record_list": null
        }
    }))
    .unwrap();
    let result = response.result.unwrap();
    let approve = &result.approve_list[0];
    assert_eq!(approve.proc_inst_id, "p-1");
    assert_eq!(approve.biz_type, Some(3));
    assert_eq!(approve.tag_name, "请假");
    assert!(result.check_record_list.is_empty(), "null reads as empty");
    assert_eq!(
        result.class_setting_info.unwrap().rest_time_vo_list[0].rest_begin_time,
        "12:00"
    );
}

#[test]
fn failed_pushes_read_back_into_event_bodies() {
    let response: FailedResultResponse = serde_json::from_str(FAILED_RESULT).unwrap();
    assert_eq!(response.errcode, Some(0));
    assert_eq!(response.has_more, Some(false));
    let [punch_item, bpms_item] = response.failed_list.try_into().unwrap();

    assert_eq!(punch_item.call_back_tag, "attendance_check_record");
    assert_eq!(punch_item.event_time, Some(1_606_126_433_000));
    assert_eq!(punch_item.corp_id(), Some("ding241f334c339e175b"));
    let punches: CheckRecordEvent = serde_json::from_value(punch_item.payload().unwrap()).unwrap();
    let record = &punches.data_list.unwrap()[0];
    assert_eq!(record.user_id, "zhangsan");
    assert_eq!(record.biz_id, "AB12");
    assert_eq!(record.check_time, Some(1_606_126_400_000));
    assert_eq!(record.location_method, "WIFI");

    assert_eq!(bpms_item.call_back_tag, "bpms_instance_change");
    assert_eq!(bpms_item.corp_id(), Some("ding241f334c339e175b"));
    let change: BpmsChange = serde_json::from_value(bpms_item.payload().unwrap()).unwrap();
    assert_eq!(change.process_instance_id, "aa-bb");
    assert_eq!(change.biz_category_id, "attendance.supply");
    assert_eq!(
        (change.kind.as_str(), change.result.as_str()),
        ("finish", "agree")
    );
    assert_eq!(change.staff_id, "zhangsan");
}

#[test]
fn the_v1_failed_results_read() {
    let response: FailedResultsV1 = serde_json::from_value(json!({
        "failedList": [{"callBackData": "{\"dataList\":[]}", "callBackTag": "attendance_check_record",
                        "corpId": "dingc", "eventTime": 1606126433000_i64}],
        "hasMore": true
    }))
    .unwrap();
    assert_eq!(response.has_more, Some(true));
    let item = &response.failed_list[0];
    assert_eq!(item.call_back_data, r#"{"dataList":[]}"#);
    assert_eq!(item.call_back_tag, "attendance_check_record");
    assert_eq!(item.corp_id, "dingc");
    assert_eq!(item.event_time, Some(1_606_126_433_000));
}
