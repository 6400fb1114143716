//! Every socket qctl reads: opened here (TCP, TLS over TCP, unix), never
//! inside the redis crate, so that every byte a server sends passes
//! through [`budget::Budgeted`] before the crate's parser sees it.
//!
//! Standalone servers: [`connect`] opens the stream and hands it to
//! `MultiplexedConnection::new_with_config`. TLS is rustls, driven here
//! (`tokio-rustls`), with the budget over the TLS stream, so it is the
//! decrypted RESP bytes that are framed and counted.
//!
//! Redis Cluster: the cluster client connects to each node (the seeds, the
//! nodes it discovers, reconnections) through [`NodeConn`], its connector
//! (`redis::cluster_async::Connect`), which calls [`connect`] too. That
//! trait is a static function given only the node's `ConnectionInfo`, so
//! the context's TLS client and timeouts travel in a registry
//! ([`register`]) whose key is carried in the one per-client value the
//! cluster client copies into every node's `ConnectionInfo` unchanged: the
//! database number. [`NodeConn`] puts the real database number back before
//! connecting, so the server never sees the key.

use super::budget;
use crate::contexts::TlsSettings;
use futures_util::FutureExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisError, RedisResult};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A context's TLS client: roots (its `ca-file`, else the system's),
/// optional client certificate, and `insecure-skip-verify` (no certificate
/// check and no SNI, as the redis crate did).
pub(crate) struct TlsClient {
    connector: tokio_rustls::TlsConnector,
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read TLS {what} {}: {e}", path.display()))
}

impl TlsClient {
    /// Reads the context's TLS files; an error is the message of a `config`
    /// error.
    pub(crate) fn new(tls: &TlsSettings, insecure: bool) -> Result<TlsClient, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                let pem = read_file(path, "ca-file")?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| {
                        format!("TLS ca-file {}: not PEM certificates ({e})", path.display())
                    })?;
                    roots.add(cert).map_err(|e| {
                        format!("TLS ca-file {}: not a CA certificate ({e})", path.display())
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "TLS ca-file {}: no PEM certificate in it",
                        path.display()
                    ));
                }
            }
            None if !insecure => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
            None => {}
        }
        let builder = builder.with_root_certificates(roots);
        let mut config = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                let pem = read_file(cert, "cert-file")?;
                let chain = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        format!(
                            "TLS cert-file {}: not PEM certificates ({e})",
                            cert.display()
                        )
                    })?;
                if chain.is_empty() {
                    return Err(format!(
                        "TLS cert-file {}: no PEM certificate in it",
                        cert.display()
                    ));
                }
                let pem = read_file(key, "key-file")?;
                let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                    format!("TLS key-file {}: no PEM private key ({e})", key.display())
                })?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    format!(
                        "TLS cert-file {} and key-file {} do not make a client certificate ({e})",
                        cert.display(),
                        key.display()
                    )
                })?
            }
            _ => builder.with_no_client_auth(),
        };
        if insecure {
            config.enable_sni = false;
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    provider.signature_verification_algorithms,
                )));
        }
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

/// `insecure-skip-verify`: any certificate, still a real TLS handshake.
#[derive(Debug)]
struct AcceptAnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The transport under the budget.
enum Wire {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(unix)]
            Wire::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(unix)]
            Wire::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_flush(cx),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(unix)]
            Wire::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(unix)]
            Wire::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Wire::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Wire::Tcp(s) => s.is_write_vectored(),
            Wire::Tls(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Wire::Unix(s) => s.is_write_vectored(),
        }
    }
}

fn timed_out() -> RedisError {
    RedisError::from(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
}

async fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Opens the transport within `connect_timeout` (for TLS, the handshake
/// too).
async fn open_wire(
    addr: &ConnectionAddr,
    tls: Option<&TlsClient>,
    connect_timeout: Duration,
) -> RedisResult<Wire> {
    let opening = async {
        match addr {
            ConnectionAddr::Tcp(host, port) => Ok(Wire::Tcp(tcp(host, *port).await?)),
            ConnectionAddr::TcpTls { host, port, .. } => {
                let Some(tls) = tls else {
                    return Err(RedisError::from(io::Error::other(
                        "a rediss:// address without its TLS settings",
                    )));
                };
                let name = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(name.to_string()).map_err(|_| {
                    RedisError::from(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("`{host}` is not a name TLS can check a certificate against"),
                    ))
                })?;
                let stream = tcp(host, *port).await?;
                let stream = tls.connector.connect(name, stream).await?;
                Ok(Wire::Tls(Box::new(stream)))
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                Ok(Wire::Unix(tokio::net::UnixStream::connect(path).await?))
            }
            _ => Err(RedisError::from(io::Error::other(
                "an address kind qctl does not know",
            ))),
        }
    };
    tokio::time::timeout(connect_timeout, opening)
        .await
        .map_err(|_| timed_out())?
}

/// A connection to one server over a socket qctl opened, read through
/// [`budget::Budgeted`]; `tls` is required for a `rediss://` address.
pub(crate) async fn connect(
    info: &ConnectionInfo,
    tls: Option<&TlsClient>,
    connect_timeout: Duration,
    config: AsyncConnectionConfig,
) -> RedisResult<MultiplexedConnection> {
    let wire = open_wire(info.addr(), tls, connect_timeout).await?;
    let stream = budget::Budgeted::new(wire, budget::REPLY_BUDGET);
    let (conn, driver) =
        MultiplexedConnection::new_with_config(info.redis_settings(), stream, config).await?;
    tokio::spawn(driver);
    Ok(conn)
}

/// What a cluster context's node connections need that the cluster client
/// does not pass to its connector.
pub(crate) struct NodeSetup {
    pub(crate) tls: Option<TlsClient>,
    /// The database the URLs named (0 on a Redis Cluster).
    pub(crate) db: i64,
    pub(crate) connect_timeout: Duration,
}

type Setups = BTreeMap<i64, Arc<NodeSetup>>;

static SETUPS: Mutex<Setups> = Mutex::new(BTreeMap::new());
/// Keys start far from any real database number.
static NEXT_KEY: AtomicI64 = AtomicI64::new(1 << 40);

fn setups() -> std::sync::MutexGuard<'static, Setups> {
    SETUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A registered [`NodeSetup`]; dropping it (with the connection that holds
/// it) unregisters it.
pub(crate) struct Registration {
    key: i64,
}

impl Registration {
    /// The key to give the cluster client as its database number.
    pub(crate) fn key(&self) -> i64 {
        self.key
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        setups().remove(&self.key);
    }
}

pub(crate) fn register(setup: NodeSetup) -> Registration {
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    setups().insert(key, Arc::new(setup));
    Registration { key }
}

/// One node connection of a cluster context: a multiplexed connection over
/// a budgeted socket.
#[derive(Clone)]
pub(crate) struct NodeConn(MultiplexedConnection);

impl redis::aio::ConnectionLike for NodeConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

impl redis::cluster_async::Connect for NodeConn {
    fn connect_with_config<'a, T>(
        info: T,
        config: AsyncConnectionConfig,
    ) -> redis::RedisFuture<'a, Self>
    where
        T: redis::IntoConnectionInfo + Send + 'a,
    {
        async move {
            let info = info.into_connection_info()?;
            let key = info.redis_settings().db();
            let setup = setups().get(&key).cloned().ok_or_else(|| {
                RedisError::from(io::Error::other("the cluster connection was closed"))
            })?;
            let settings = info.redis_settings().clone().set_db(setup.db);
            let info = info.set_redis_settings(settings);
            // As the redis crate's own connector: the whole connection,
            // AUTH included, within the connect timeout.
            let conn = tokio::time::timeout(
                setup.connect_timeout,
                connect(&info, setup.tls.as_ref(), setup.connect_timeout, config),
            )
            .await
            .map_err(|_| timed_out())??;
            Ok(NodeConn(conn))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_that_are_not_certificates_are_plain_errors() {
        let dir = std::env::temp_dir().join(format!("qctl-dial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let settings = |ca: &std::path::Path| TlsSettings {
            ca_file: Some(ca.to_path_buf()),
            ..Default::default()
        };
        let e = TlsClient::new(&settings(&empty), false).err().unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = TlsClient::new(&settings(&dir.join("missing.pem")), false)
            .err()
            .unwrap();
        assert!(e.starts_with("cannot read TLS ca-file"), "{e}");
        // insecure-skip-verify without a CA needs no roots.
        assert!(TlsClient::new(&TlsSettings::default(), true).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_registration_lives_until_dropped() {
        let r = register(NodeSetup {
            tls: None,
            db: 3,
            connect_timeout: Duration::from_secs(1),
        });
        let key = r.key();
        assert!(key > i64::from(u32::MAX), "far from real databases");
        assert_eq!(setups().get(&key).map(|s| s.db), Some(3));
        drop(r);
        assert!(setups().get(&key).is_none());
    }
}
