#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| presence_sync::fuzzing::caller_name(data));
