#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsrt_fuzz::sse_encode(data));
