// SPDX-License-Identifier: Apache-2.0
//! Fuzzes the format inspector: no input may panic, and the verdict must not depend on how the
//! stream is split (the first byte picks a split point).
#![no_main]

use ferrostack_image::inspector::{InspectWrapper, inspect_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, image)) = data.split_first() else { return };
    let whole = inspect_bytes(image);
    let cut = (cut as usize * 4099).min(image.len());
    let mut w = InspectWrapper::new();
    w.feed(&image[..cut]);
    w.feed(&image[cut..]);
    let split = w.finish();
    assert_eq!(whole.to_string(), split.to_string());
    for fmt in ["raw", "qcow2", "vmdk", "iso", "ami"] {
        let _ = whole.check(fmt);
    }
});
