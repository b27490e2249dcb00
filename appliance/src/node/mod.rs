//! The node: its home folder and everything about it that is not the store,
//! the vault or the keys: the home itself (layout, lock, opening and
//! recovery, `home.rs`), crash-safe file writes (`fsx.rs`), the clock
//! (`time.rs`: one `Clock` passed down, so rules that depend on the time are
//! tested at chosen times) and the failpoints the crash tests use
//! (`failpoint.rs`).

pub mod failpoint;
pub mod fsx;
pub mod home;
pub mod time;
