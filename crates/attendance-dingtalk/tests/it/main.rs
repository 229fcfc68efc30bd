//! Integration tests of the DingTalk adapter, linked into one binary: fixture
//! translation over both channels, the pull-response mirrors, Stream frames
//! and acks, and the callback router driven in-process with the kit's
//! `testing::send`.

mod api;
mod callback;
mod hostile;
mod mapping;
mod pulls;
mod rederive;
mod stream;
mod support;
mod translate;
