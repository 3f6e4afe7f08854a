//! Raw mail bytes → parse → classify → thread → intake outcome (ticket and acknowledgement).
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;

static DEPS: Mutex<Option<loket_fuzz::EmailDeps>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = DEPS.lock().unwrap_or_else(|e| e.into_inner());
    let deps = guard.get_or_insert_with(loket_fuzz::email_deps);
    loket_fuzz::run_email(deps, data);
});
