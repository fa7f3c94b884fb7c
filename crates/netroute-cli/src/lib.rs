//! The library side of the `netroute` command: input readers and the `show`, `get`,
//! `order` and `snapshot` commands, as modules that the binary (`main.rs`), the integration tests and
//! fuzz targets call.
//!
//! Exit codes (see [`exit`]): 0 success, 1 an operational failure (I/O, netlink), 2 a usage
//! error (clap), 3 a bad input file (stack file, table, update or MRT file, bad address),
//! 4 `get`: some destination has no usable route.
#![forbid(unsafe_code)]

pub mod get;
pub mod input;
pub mod order;
pub mod show;
pub mod snapshot;

use std::fmt;
use std::path::Path;

use netroute::{Stack, StackFile};

/// The exit codes of the `netroute` command.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An operational failure: an I/O error writing output, a netlink error.
    pub const FAILURE: u8 = 1;
    /// A usage error: unknown option, missing argument (clap's own code).
    pub const USAGE: u8 = 2;
    /// A bad input file or value: a stack file, table, update or MRT file, or an address
    /// that cannot be read; the message names the file, the line and what was expected.
    pub const BAD_INPUT: u8 = 3;
    /// `get`: at least one destination is unreachable, blackholed or prohibited (the
    /// others were answered).
    pub const UNREACHABLE: u8 = 4;
}

/// A command's failure: the message to print and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// One of the [`exit`] codes.
    pub code: u8,
    /// What went wrong (printed after `netroute: `).
    pub msg: String,
}

impl CliError {
    /// A bad-input error ([`exit::BAD_INPUT`]).
    pub fn bad_input(msg: impl fmt::Display) -> Self {
        Self {
            code: exit::BAD_INPUT,
            msg: msg.to_string(),
        }
    }

    /// An operational failure ([`exit::FAILURE`]).
    pub fn failure(msg: impl fmt::Display) -> Self {
        Self {
            code: exit::FAILURE,
            msg: msg.to_string(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CliError {}

/// Reads and parses a stack file (plain or gzip); errors name the file and the line and
/// column or JSON path.
pub fn read_stack_file(path: &Path) -> Result<StackFile, CliError> {
    let name = path.display().to_string();
    let r = input::open(path).map_err(CliError::bad_input)?;
    StackFile::from_reader(r).map_err(|e| CliError::bad_input(format!("{name}: {e}")))
}

/// Reads a stack file and builds the [`Stack`] it describes.
pub fn load_stack(path: &Path) -> Result<Stack, CliError> {
    let file = read_stack_file(path)?;
    Stack::from_file(&file).map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))
}

/// The name of interface `index` in `stack`, or `#N` when it has none (detached).
pub fn if_name(stack: &Stack, index: netroute::addr::IfIndex) -> String {
    stack
        .ifs()
        .get_by_index(index)
        .map(|i| i.name().to_owned())
        .unwrap_or_else(|| format!("#{}", index.get()))
}
