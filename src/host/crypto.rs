//! Envoy's `verify_signature` foreign function, behind the core's [`HostCrypto`] trait.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use crate::verify::host::{probe, HostCallError, HostCrypto, HostStatus};
use crate::verify::CryptoMode;
use crate::verify::{Plan, Verifier};
use std::rc::Rc;

/// The foreign function's name in Envoy's wasm host.
const VERIFY_SIGNATURE: &str = "verify_signature";

/// Calls Envoy's BoringSSL through the foreign function.
pub struct EnvoyCrypto;

impl HostCrypto for EnvoyCrypto {
    fn verify_signature(&self, arguments: &[u8]) -> Result<Vec<u8>, HostCallError> {
        match hostcalls::call_foreign_function(VERIFY_SIGNATURE, Some(arguments)) {
            Ok(reply) => Ok(reply.unwrap_or_default()),
            Err(Status::NotFound) => Err(HostCallError::NotFound),
            Err(_) => Err(HostCallError::Failed),
        }
    }
}

/// This VM's verifier for `mode`, after probing the host once; `Err` with the reason when
/// `crypto: host` was asked for and the host cannot verify.
pub fn verifier(mode: CryptoMode) -> Result<Verifier, String> {
    let status = match mode {
        CryptoMode::Wasm => HostStatus::Absent,
        CryptoMode::Auto | CryptoMode::Host => probe(&EnvoyCrypto),
    };
    let works = status == HostStatus::Works;
    if status == HostStatus::Broken {
        log::warn!(
            "Envoy's verify_signature answered a known signature wrongly; not using host crypto"
        );
    }
    if mode == CryptoMode::Host && !works {
        return Err(format!(
            "`crypto: host` needs Envoy's verify_signature foreign function, which is {}",
            if status == HostStatus::Absent {
                "not available in this host"
            } else {
                "not working"
            }
        ));
    }
    let plan = Plan::new(mode, works);
    log::info!("signature backends: {plan}");
    Ok(Verifier::new(plan, Rc::new(EnvoyCrypto)))
}
