//! `--web-config FILE`: TLS and basic authentication, in the format of the Prometheus
//! exporter-toolkit (`tls_server_config`, `basic_auth_users`), so a fleet's existing files
//! work unchanged. Keys this server does not implement are refused by name rather than
//! ignored: a setting that silently does nothing is a hole in someone's security.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result, bail};
use rustls::{
    RootCertStore, ServerConfig,
    crypto::ring::default_provider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
    version::{TLS12, TLS13},
};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: ClientAuth,
    client_ca_file: Option<PathBuf>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
}

/// The exporter-toolkit's names (Go's `tls.ClientAuthType`). The two that accept a client
/// certificate without verifying it are not offered: they authenticate nothing.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq)]
enum ClientAuth {
    #[default]
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
    RequestClientCert,
    RequireAnyClientCert,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, PartialOrd)]
enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// A validated web configuration.
pub struct WebConfig {
    pub tls: Option<Arc<ServerConfig>>,
    pub users: Option<Users>,
}

impl WebConfig {
    /// Plain HTTP, no authentication: what no `--web-config` means.
    pub fn plain() -> WebConfig {
        WebConfig {
            tls: None,
            users: None,
        }
    }

    /// Reads and checks `path`; relative file names in it are relative to its directory,
    /// as in the exporter-toolkit.
    pub fn load(path: &Path) -> Result<WebConfig> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading the web configuration {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        WebConfig::parse(&text, dir)
            .with_context(|| format!("in the web configuration {}", path.display()))
    }

    fn parse(text: &str, dir: &Path) -> Result<WebConfig> {
        // An empty file is a valid configuration: plain HTTP, no authentication.
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_saphyr::from_str(text)?
        };
        let tls = file
            .tls_server_config
            .map(|t| tls(t, dir).map(Arc::new))
            .transpose()?;
        let users = (!file.basic_auth_users.is_empty())
            .then(|| Users::new(file.basic_auth_users))
            .transpose()?;
        Ok(WebConfig { tls, users })
    }
}

fn tls(t: TlsFile, dir: &Path) -> Result<ServerConfig> {
    let at = |p: &Path| dir.join(p);
    let (cert_file, key_file) = (at(&t.cert_file), at(&t.key_file));
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading cert_file {}", cert_file.display()))?;
    if certs.is_empty() {
        bail!("cert_file {} holds no certificate", cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .with_context(|| format!("reading key_file {}", key_file.display()))?;

    let min = t.min_version.unwrap_or(TlsVersion::TLS12);
    let max = t.max_version.unwrap_or(TlsVersion::TLS13);
    if min < TlsVersion::TLS12 {
        bail!("min_version {min:?}: TLS before 1.2 is not offered (rustls implements 1.2 and 1.3)");
    }
    if max < min {
        bail!("max_version {max:?} is below min_version {min:?}");
    }
    let versions: Vec<_> = [(TlsVersion::TLS12, &TLS12), (TlsVersion::TLS13, &TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, v)| v)
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(&versions)
        .context("choosing TLS versions")?;

    let verified = match t.client_auth_type {
        ClientAuth::NoClientCert => None,
        ClientAuth::VerifyClientCertIfGiven => Some(true),
        ClientAuth::RequireAndVerifyClientCert => Some(false),
        other => bail!(
            "client_auth_type {other:?} accepts unverified client certificates and is not \
             offered; use RequireAndVerifyClientCert with client_ca_file"
        ),
    };
    let builder = match verified {
        None => {
            if t.client_ca_file.is_some() {
                bail!("client_ca_file is set but client_auth_type is NoClientCert");
            }
            builder.with_no_client_auth()
        }
        Some(optional) => {
            let Some(ca) = t.client_ca_file.map(|p| at(&p)) else {
                bail!(
                    "client_auth_type {:?} needs client_ca_file",
                    t.client_auth_type
                );
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca)
                .with_context(|| format!("reading client_ca_file {}", ca.display()))?
            {
                roots
                    .add(cert.with_context(|| format!("reading client_ca_file {}", ca.display()))?)
                    .with_context(|| format!("client_ca_file {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
            let verifier = if optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().context("client verification")?)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .with_context(|| format!("{} with {}", cert_file.display(), key_file.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Most verified credentials remembered: bcrypt costs tens of milliseconds per check by
/// design, and Prometheus sends the same header every scrape.
const VERIFIED_CACHE_MAX: usize = 64;

/// `basic_auth_users`: user name → bcrypt hash.
pub struct Users {
    hashes: HashMap<String, String>,
    /// (user, password) pairs that verified. Bounded; cleared when full rather than grown.
    verified: Mutex<Vec<(String, String)>>,
}

impl Users {
    fn new(hashes: HashMap<String, String>) -> Result<Users> {
        for (user, hash) in &hashes {
            if user.contains(':') {
                bail!("basic_auth_users: the user name {user:?} contains ':'");
            }
            // Parsing the hash now reports a malformed entry at start, not at first login.
            hash.parse::<bcrypt::HashParts>()
                .with_context(|| format!("basic_auth_users: {user:?} is not a bcrypt hash"))?;
        }
        Ok(Users {
            hashes,
            verified: Mutex::new(Vec::new()),
        })
    }

    /// Whether an `Authorization` header value names a user with the right password.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        use base64::Engine as _;
        let Some(credentials) = authorization
            .and_then(|h| h.strip_prefix(b"Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        let Some((user, password)) = credentials.split_once(':') else {
            return false;
        };
        let Some(hash) = self.hashes.get(user) else {
            return false;
        };
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.iter().any(|(u, p)| u == user && p == password) {
            return true;
        }
        drop(verified);
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return false;
        }
        verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE_MAX {
            verified.clear();
        }
        verified.push((user.to_owned(), password.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}").into_bytes()
    }

    #[test]
    fn an_empty_file_serves_plain_http_to_anyone() {
        let c = WebConfig::parse("", Path::new(".")).unwrap();
        assert!(c.tls.is_none() && c.users.is_none());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = WebConfig::parse("http_server_config:\n  http2: false\n", Path::new("."))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("http_server_config"), "{e:#}");
        let e = WebConfig::parse(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: []\n",
            Path::new("."),
        )
        .err()
        .unwrap();
        assert!(format!("{e:#}").contains("cipher_suites"), "{e:#}");
    }

    #[test]
    fn basic_auth_checks_bcrypt_and_remembers_only_what_verified() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let c = WebConfig::parse(
            &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
            Path::new("."),
        )
        .unwrap();
        let users = c.users.unwrap();
        assert!(users.allows(Some(&basic("prometheus", "s3cret"))));
        assert!(users.allows(Some(&basic("prometheus", "s3cret"))));
        assert!(!users.allows(Some(&basic("prometheus", "wrong"))));
        assert!(!users.allows(Some(&basic("nobody", "s3cret"))));
        assert!(!users.allows(Some(b"Bearer x")));
        assert!(!users.allows(None));
        assert_eq!(users.verified.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_malformed_hash_is_an_error_at_load() {
        let e = WebConfig::parse("basic_auth_users:\n  u: plain\n", Path::new("."))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("not a bcrypt hash"), "{e:#}");
    }

    #[test]
    fn tls_files_are_relative_to_the_config_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        fs::write(dir.path().join("c.pem"), cert.cert.pem()).unwrap();
        fs::write(dir.path().join("k.pem"), cert.signing_key.serialize_pem()).unwrap();
        let ok =
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS13\n";
        assert!(WebConfig::parse(ok, dir.path()).unwrap().tls.is_some());

        let old =
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS10\n";
        let e = WebConfig::parse(old, dir.path()).err().unwrap();
        assert!(format!("{e:#}").contains("TLS before 1.2"), "{e:#}");

        let no_ca = "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  \
                     client_auth_type: RequireAndVerifyClientCert\n";
        let e = WebConfig::parse(no_ca, dir.path()).err().unwrap();
        assert!(format!("{e:#}").contains("needs client_ca_file"), "{e:#}");

        let missing = "tls_server_config:\n  cert_file: none.pem\n  key_file: k.pem\n";
        let e = WebConfig::parse(missing, dir.path()).err().unwrap();
        assert!(format!("{e:#}").contains("none.pem"), "{e:#}");
    }
}
