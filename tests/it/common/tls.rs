//! Per-server (or per-cluster) test PKI generated with the openssl CLI.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// PEM files of a test CA, a server certificate (SAN `IP:127.0.0.1`,
/// `DNS:localhost`, EKU serverAuth+clientAuth) and a client certificate
/// (EKU clientAuth), all EC P-256, valid for 10 years.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Certificates for redis-rs: the test CA as the only root, plus the
    /// client certificate when `with_client_cert`.
    pub fn redis_certificates(&self, with_client_cert: bool) -> redis::TlsCertificates {
        let read = |p: &Path| fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        redis::TlsCertificates {
            client_tls: with_client_cert.then(|| redis::ClientTlsConfig {
                client_cert: read(&self.client_cert),
                client_key: read(&self.client_key),
            }),
            root_cert: Some(read(&self.ca)),
        }
    }
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = qctl-test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:qctl-test-client
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// Generates a CA, server and client certificate into `dir` (created).
pub fn generate(dir: &Path) -> TlsFiles {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).expect("write openssl.cnf");
    let files = TlsFiles {
        ca: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    // `openssl req -x509 -CA` (OpenSSL >= 3.0) issues a CA-signed certificate
    // with a fresh key in a single invocation.
    openssl(dir, "v3_ca", "qctl-test-ca", "ca", false);
    openssl(dir, "v3_server", "localhost", "server", true);
    openssl(dir, "v3_client", "qctl-test-client", "client", true);
    files
}

fn openssl(dir: &Path, extensions: &str, cn: &str, name: &str, signed_by_ca: bool) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir)
        .args(["req", "-x509", "-new", "-config", "openssl.cnf"])
        .args(["-extensions", extensions])
        .args([
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-keyout", &format!("{name}.key")])
        .args(["-out", &format!("{name}.crt")])
        .args(["-subj", &format!("/CN={cn}")])
        .args(["-days", "3650", "-sha256"])
        .stdin(Stdio::null());
    if signed_by_ca {
        cmd.args(["-CA", "ca.crt", "-CAkey", "ca.key"]);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
            "openssl not found on PATH: install it with `sudo apt-get install -y openssl` (Debian/Ubuntu)"
        ),
        Err(e) => panic!("failed to run openssl: {e}"),
    };
    if !out.status.success() {
        panic!(
            "openssl failed generating {name} certificate ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
