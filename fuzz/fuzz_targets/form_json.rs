//! A JSON `POST /api/requests` body → decoded, validated → the JSON answer.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static DEPS: OnceLock<loket_fuzz::FormDeps> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    loket_fuzz::run_form_json(DEPS.get_or_init(loket_fuzz::form_deps), data);
});
