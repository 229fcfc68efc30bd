//! The `attendance.v1` model and services, generated from `proto/`, plus the
//! hand-off type every vendor adapter gives the store.

pub mod frame;
pub mod hub;
pub mod ingest;
pub mod labels;

/// Generated types of package `attendance.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("attendance.v1");
}

/// The hub's `AttendanceService` server, generated again with `Subscribe`
/// sending [`frame::SubscribeFrame`]s (clients use [`v1`]'s client, which
/// reads them as `SubscribeResponse`s: the bytes are the same).
pub mod framed {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/framed/attendance.v1.rs"));
}

/// The encoded `FileDescriptorSet` of `proto/`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/attendance_descriptor.bin"));

pub use prost_types::Timestamp;
