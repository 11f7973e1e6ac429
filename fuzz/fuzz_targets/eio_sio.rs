#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsrt_fuzz::eio_sio(data));
