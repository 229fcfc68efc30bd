//! End-to-end: placeholder until the suite lands.
