//! The plugin configuration, as Envoy hands it over from the bootstrap or xDS.
#![no_main]

use jwt_authn_wasm::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Config::parse(data) {
        Ok(config) => {
            assert!(!config.providers.is_empty());
            for provider in &config.providers {
                match &provider.issuer {
                    Some(issuer) => assert!(config.provider_by_issuer(issuer).is_some()),
                    None => assert!(config.provider_without_issuer().is_some()),
                }
            }
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
