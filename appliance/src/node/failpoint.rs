//! Crash points for testing that a `kill -9` at any step of a command
//! leaves the store whole.
//!
//! In debug builds (the ones the test suite runs), setting
//! `AIRLOCK_FAILPOINT=NAME` makes the process kill itself with SIGKILL when
//! it reaches the point `NAME`: no destructor, no cleanup, exactly what a
//! power cut or `kill -9` does. Release builds compile every point to
//! nothing, so an installed `airlock` has no such switch.

/// Kills the process here if `AIRLOCK_FAILPOINT` names this point (debug
/// builds only).
#[inline]
pub fn hit(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("AIRLOCK_FAILPOINT").is_ok_and(|v| v == name) {
        let pid = std::process::id().to_string();
        // `kill -9` from outside the process: the real thing.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
