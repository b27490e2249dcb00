//! A passphrase typed into the console: never drawn, never kept.
//!
//! The characters go into one buffer allocated once at its full size, so typing never makes
//! the allocator copy them elsewhere; the buffer is zeroized when the dialog closes, whether
//! the action ran or was cancelled, and handing it to the library
//! ([`SecretInput::take`]) moves it into the library's own zeroize-on-drop type.

use std::fmt;

use airlock::trust::personal::Passphrase;
use zeroize::{Zeroize, Zeroizing};

/// Most characters accepted (the command line reads at most 4096 bytes of a passphrase).
pub const MAX_CHARS: usize = 1024;

/// A passphrase field's contents.
pub struct SecretInput(Zeroizing<String>);

impl Default for SecretInput {
    fn default() -> Self {
        // 4 bytes per character at most: pushing never reallocates.
        SecretInput(Zeroizing::new(String::with_capacity(MAX_CHARS * 4)))
    }
}

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretInput(<redacted>)")
    }
}

impl SecretInput {
    /// Adds a typed character (ignored past [`MAX_CHARS`]).
    pub fn push(&mut self, c: char) {
        if self.0.chars().count() < MAX_CHARS {
            self.0.push(c);
        }
    }

    /// Removes the last character.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// Whether nothing was typed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The passphrase for the library, leaving this field empty and zeroized.
    ///
    /// `Passphrase::new` turns its `String` into a boxed `str`, which reallocates when the
    /// string has spare capacity; the copy handed over is therefore made at its exact size,
    /// so no unzeroized copy is left behind in freed memory.
    pub fn take(&mut self) -> Passphrase {
        let mut exact = String::with_capacity(self.0.len());
        exact.push_str(&self.0);
        self.0.zeroize();
        Passphrase::new(exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_empties_the_field_and_debug_reveals_nothing() {
        let mut s = SecretInput::default();
        for c in "hunter22-hunter".chars() {
            s.push(c);
        }
        s.pop();
        assert!(!format!("{s:?}").contains("hunter"));
        let p = s.take();
        assert!(s.is_empty());
        assert!(!format!("{p:?}").contains("hunter"));
    }

    #[test]
    fn the_field_is_bounded() {
        let mut s = SecretInput::default();
        for _ in 0..MAX_CHARS + 10 {
            s.push('é');
        }
        assert_eq!(s.0.chars().count(), MAX_CHARS);
        assert_eq!(s.0.capacity(), MAX_CHARS * 4, "never reallocated");
    }
}
