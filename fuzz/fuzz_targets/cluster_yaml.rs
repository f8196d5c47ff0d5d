//! Fuzzes cluster.yaml loading and, for inputs that validate, rendering: neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let loaded = kubeline_core::validate::load(text);
        if let Some(cluster) = loaded.cluster {
            let _ = kubeline_core::render::render(&cluster, &kubeline_core::render::Templates::builtin());
        }
    }
});
