//! Bundle files on removable media: writing a bundle as one file or as
//! numbered parts (`NAME.001`, `NAME.002`, ...), finding the parts again from
//! the first, and reading them back as one stream.
//!
//! Only plain files are read: a symlink, a hard-linked file, a device or a
//! folder where a part should be is refused by name, so a bundle on media
//! can never make the importer read something else on the host.

mod read;
mod write;

pub use read::{PartFile, Parts, PayloadReader, StreamReader};
pub use write::{FAT32_MAX, Finished, PartsWriter, parse_split, part_path};

#[cfg(test)]
mod tests;
