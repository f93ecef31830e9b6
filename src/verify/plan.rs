//! Which backend verifies each algorithm: the operator's `crypto` setting, what the host offers,
//! and the measurements behind the defaults (docs/algorithms.md has the numbers and commands).
//!
//! | algorithm | `auto` with Envoy's `verify_signature` | `auto` without it, or `wasm` | `host` |
//! |---|---|---|---|
//! | RS256/384/512 | host BoringSSL | own arithmetic | host BoringSSL |
//! | PS256/384/512 | own arithmetic (the host has no PSS) | own arithmetic | refused |
//! | ES256 | host BoringSSL | RustCrypto `p256` | host BoringSSL |
//! | ES384 | own arithmetic (faster than the host's P-384) | own arithmetic | host BoringSSL |
//! | ES512 | host BoringSSL | RustCrypto `p521` | host BoringSSL |
//! | EdDSA | `curve25519-dalek` with per-key tables (the host has no Ed25519) | the same | refused |
//! | HS256/384/512 | RustCrypto `hmac` (the host has no HMAC) | the same | refused |

use std::fmt;

use crate::verify::alg::Algorithm;

/// The operator's choice of where signatures are verified (`crypto` in the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CryptoMode {
    /// Each algorithm where it was measured fastest, falling back to in-wasm code where the host
    /// lacks `verify_signature`.
    #[default]
    Auto,
    /// Only Envoy's BoringSSL (for a FIPS deployment): algorithms it cannot verify are refused
    /// at configuration, and a host without the function does not start the plugin.
    Host,
    /// Only code inside the sandbox, never a foreign call.
    Wasm,
}

impl CryptoMode {
    /// Parses the configuration's name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(Self::Auto),
            "host" => Some(Self::Host),
            "wasm" => Some(Self::Wasm),
            _ => None,
        }
    }

    /// Whether some backend verifies `alg` in this mode, whatever the host offers.
    pub fn supports(self, alg: Algorithm) -> bool {
        self != Self::Host || host_can(alg)
    }
}

/// Where one algorithm is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Envoy's BoringSSL, through the `verify_signature` foreign function.
    Host,
    /// This crate's own arithmetic (`verify::own`), tuned for V8.
    Own,
    /// A RustCrypto crate compiled into the module.
    RustCrypto,
}

impl Backend {
    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Own => "own",
            Self::RustCrypto => "rustcrypto",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether BoringSSL's `EVP_DigestVerify` behind `verify_signature` can verify `alg`.
fn host_can(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Es256
            | Algorithm::Es384
            | Algorithm::Es512
    )
}

/// The backend of every algorithm for one VM, fixed when the plugin is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    backends: [Option<Backend>; Algorithm::ALL.len()],
}

impl Plan {
    /// The plan for `mode` on a host whose `verify_signature` works (`host_works`).
    ///
    /// With [`CryptoMode::Host`] and a host that does not work, no algorithm has a backend:
    /// the host layer refuses to start first.
    pub fn new(mode: CryptoMode, host_works: bool) -> Self {
        let mut backends = [None; Algorithm::ALL.len()];
        for alg in Algorithm::ALL {
            if let Some(slot) = backends.get_mut(alg.index()) {
                *slot = Self::choose(mode, host_works, alg);
            }
        }
        Self { backends }
    }

    fn choose(mode: CryptoMode, host_works: bool, alg: Algorithm) -> Option<Backend> {
        use Algorithm::*;
        let host = host_works && host_can(alg);
        match mode {
            CryptoMode::Host => host.then_some(Backend::Host),
            CryptoMode::Wasm => Some(Self::in_wasm(alg)),
            // Measured in Envoy 1.40 / V8 (docs/algorithms.md): BoringSSL through the host is
            // ~4-10x faster than any RSA in wasm and ~18x faster than RustCrypto's P-256, while
            // our P-384 (~240-350 us) beats BoringSSL's (~770 us).
            CryptoMode::Auto => Some(match alg {
                Rs256 | Rs384 | Rs512 | Es256 | Es512 if host => Backend::Host,
                _ => Self::in_wasm(alg),
            }),
        }
    }

    /// The in-sandbox backend of `alg`: our own arithmetic where we have it, else a crate.
    fn in_wasm(alg: Algorithm) -> Backend {
        use Algorithm::*;
        match alg {
            Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512 | Es384 => Backend::Own,
            Es256 | Es512 | EdDsa | Hs256 | Hs384 | Hs512 => Backend::RustCrypto,
        }
    }

    /// The backend of `alg`; `None` when this mode cannot verify it.
    pub fn backend(&self, alg: Algorithm) -> Option<Backend> {
        self.backends.get(alg.index()).copied().flatten()
    }

    /// Whether some algorithm of this plan calls the host.
    pub fn uses_host(&self) -> bool {
        self.backends.contains(&Some(Backend::Host))
    }
}

impl Default for Plan {
    /// In-wasm code only: what a VM uses before (or without) probing the host.
    fn default() -> Self {
        Self::new(CryptoMode::Wasm, false)
    }
}

impl fmt::Display for Plan {
    /// `RS256=host RS384=host ... HS512=rustcrypto`, for the log line at start.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for alg in Algorithm::ALL {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            match self.backend(alg) {
                Some(backend) => write!(f, "{alg}={backend}")?,
                None => write!(f, "{alg}=refused")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_uses_the_host_where_it_is_fastest() {
        let plan = Plan::new(CryptoMode::Auto, true);
        assert_eq!(
            plan.to_string(),
            "RS256=host RS384=host RS512=host PS256=own PS384=own PS512=own ES256=host \
             ES384=own ES512=host EdDSA=rustcrypto HS256=rustcrypto HS384=rustcrypto \
             HS512=rustcrypto"
        );
        assert!(plan.uses_host());
    }

    #[test]
    fn auto_without_the_host_and_wasm_stay_in_the_sandbox() {
        for plan in [
            Plan::new(CryptoMode::Auto, false),
            Plan::new(CryptoMode::Wasm, true),
            Plan::default(),
        ] {
            assert!(!plan.uses_host());
            for alg in Algorithm::ALL {
                assert!(plan.backend(alg).is_some(), "{alg}");
            }
            assert_eq!(plan.backend(Algorithm::Rs256), Some(Backend::Own));
            assert_eq!(plan.backend(Algorithm::Es256), Some(Backend::RustCrypto));
        }
    }

    #[test]
    fn host_mode_refuses_what_boringssl_cannot_do() {
        let plan = Plan::new(CryptoMode::Host, true);
        for alg in Algorithm::ALL {
            let expected = CryptoMode::Host.supports(alg).then_some(Backend::Host);
            assert_eq!(plan.backend(alg), expected, "{alg}");
        }
        assert_eq!(plan.backend(Algorithm::Es384), Some(Backend::Host));
        assert_eq!(plan.backend(Algorithm::Ps256), None);
        assert_eq!(plan.backend(Algorithm::EdDsa), None);
        assert_eq!(plan.backend(Algorithm::Hs256), None);
        let without = Plan::new(CryptoMode::Host, false);
        assert!(Algorithm::ALL
            .iter()
            .all(|&alg| without.backend(alg).is_none()));
    }

    #[test]
    fn mode_names() {
        assert_eq!(CryptoMode::from_name("auto"), Some(CryptoMode::Auto));
        assert_eq!(CryptoMode::from_name("host"), Some(CryptoMode::Host));
        assert_eq!(CryptoMode::from_name("wasm"), Some(CryptoMode::Wasm));
        assert_eq!(CryptoMode::from_name("Host"), None);
    }
}
