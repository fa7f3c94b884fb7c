//! The table, update-stream and MRT readers of the command (`netroute_cli::input`) on
//! arbitrary bytes, plain and behind the gzip detector: never a panic, every error names
//! the file; a text table entry's prefix is canonical (host bits clear).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netroute_cli::input::{TableReader, UpdateReader, read_mrt};

fuzz_target!(|data: &[u8]| {
    for r in TableReader::new(data, "fuzz.txt") {
        match r {
            Ok(e) => assert_eq!(e.prefix, e.prefix.trunc()),
            Err(e) => assert!(e.to_string().contains("fuzz.txt")),
        }
    }
    for r in UpdateReader::new(data, "fuzz-updates.txt") {
        if let Err(e) = r {
            assert!(e.to_string().contains("fuzz-updates.txt"));
        }
    }
    match read_mrt(data, "fuzz.mrt") {
        Ok(v) => {
            for e in v {
                assert_eq!(e.prefix, e.prefix.trunc());
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.mrt")),
    }
});
