//! Stack files (`StackFile::from_json`, then `Stack::from_file`) on arbitrary text: never
//! a panic; a file that loads writes back (`Stack::to_file`) to a file that loads to the
//! same stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netroute::{Stack, StackFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = StackFile::from_json(text) else {
        return;
    };
    let Ok(stack) = Stack::from_file(&file) else {
        return;
    };
    let written = stack.to_file();
    let again = Stack::from_file(&written).expect("a stack's own file loads");
    assert_eq!(again.to_file(), written, "round trip changed the stack");
});
