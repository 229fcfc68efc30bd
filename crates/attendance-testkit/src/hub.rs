//! The real hub binary as a child process, on real ports.
