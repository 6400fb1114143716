//! One Redis endpoint: standalone or Redis Cluster, TLS, auth, timeouts, and
//! the one place every command passes through (so `-v` can log it).
//!
//! Standalone endpoints use the redis crate's multiplexed async connection.
//! Cluster endpoints use its async cluster client, which routes keyed
//! commands by hash slot and follows MOVED/ASK; commands that must visit
//! every primary (SCAN, INFO) and pipelines are sent to one primary at a
//! time, routed by address, because that client rejects a pipeline whose
//! keys cross slots.
//!
//! Either way the sockets are qctl's own (dial.rs: TCP, TLS, unix; the
//! cluster client's connector for every node), read through the reply
//! budget (budget.rs).

use crate::contexts::{Config, Context, Mode, PasswordSource, Secret, TlsSettings, redact_url};
use crate::error::{ContextError, ErrorKind};
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisResult, Value};
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod budget;
pub(crate) mod dial;

/// Everything needed to reach one context's Redis.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) context: String,
    pub(crate) mode: Mode,
    pub(crate) urls: Vec<String>,
    pub(crate) tls: TlsSettings,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
}

impl Endpoint {
    /// The first URL, safe to print.
    pub(crate) fn display_url(&self) -> String {
        self.urls
            .iter()
            .map(|u| redact_url(u))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Resolves a context's cluster and user, reading `password-env` and
    /// `password-file` now (an unset variable fails only this context).
    pub(crate) fn resolve(config: &Config, ctx: &Context) -> Result<Endpoint, ContextError> {
        let err = |message: String| ContextError {
            context: ctx.name.clone(),
            kind: ErrorKind::Config,
            message,
        };
        let cluster = config
            .cluster(&ctx.cluster)
            .ok_or_else(|| err(format!("cluster `{}` is not defined", ctx.cluster)))?;
        let (username, password) = match ctx.user.as_deref().and_then(|u| config.user(u)) {
            None => (None, None),
            Some(u) => {
                let password = match &u.password {
                    PasswordSource::None => None,
                    PasswordSource::Inline(s) => Some(s.clone()),
                    PasswordSource::Env(var) => match std::env::var(var) {
                        Ok(v) if !v.is_empty() => Some(Secret::new(v)),
                        Err(std::env::VarError::NotUnicode(_)) => {
                            return Err(err(format!(
                                "user `{}`: password-env `{var}` is set but not valid UTF-8; export it as UTF-8 text, or use password-file",
                                u.name
                            )));
                        }
                        Ok(_) => {
                            return Err(err(format!(
                                "user `{}`: password-env `{var}` is set but empty; export the password in it, or change the user entry",
                                u.name
                            )));
                        }
                        Err(std::env::VarError::NotPresent) => {
                            return Err(err(format!(
                                "user `{}`: password-env `{var}` is not set; export it, or change the user entry",
                                u.name
                            )));
                        }
                    },
                    PasswordSource::File(path) => match std::fs::read_to_string(path) {
                        Ok(v) => Some(Secret::new(v.trim_end_matches(['\n', '\r']).to_string())),
                        Err(e) => {
                            return Err(err(format!(
                                "user `{}`: cannot read password-file {}: {e}",
                                u.name,
                                path.display()
                            )));
                        }
                    },
                };
                (u.username.clone(), password)
            }
        };
        Ok(Endpoint {
            context: ctx.name.clone(),
            mode: cluster.mode,
            urls: cluster.urls.clone(),
            tls: cluster.tls.clone(),
            username,
            password,
        })
    }
}

/// A primary of a Redis Cluster (or the one server of a standalone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Node {
    pub(crate) host: String,
    pub(crate) port: u16,
}

#[derive(Clone)]
enum Inner {
    Single(MultiplexedConnection),
    /// The registration keeps the node connector's settings while the
    /// connection lives.
    Cluster(
        ClusterConnection<dial::NodeConn>,
        Vec<Node>,
        #[allow(dead_code)] Arc<dial::Registration>,
    ),
}

/// An open connection to one context. Cheap to clone: clones share the
/// same sockets, and concurrent commands on them are pipelined.
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) context: String,
    verbose: bool,
    inner: Inner,
    secret: Option<Secret>,
    /// The budget of one round trip, for timeout messages.
    timeout: Duration,
    /// A read connection's AUTH and SELECT, sent ahead of its first
    /// command instead of in a round trip of their own: every command is
    /// queued behind them and returns only once they are known to have
    /// succeeded (their error otherwise). `None`: nothing to send, or a
    /// write connection, which waits for them before it sends anything.
    handshake: Option<Handshake>,
}

type Handshake = futures_util::future::Shared<
    std::pin::Pin<Box<dyn std::future::Future<Output = RedisResult<()>> + Send>>,
>;

/// AUTH and SELECT for `settings`, or `None` when it needs neither.
fn handshake_pipe(settings: &redis::RedisConnectionInfo) -> Option<Pipeline> {
    let mut pipe = redis::pipe();
    if let Some(p) = settings.password() {
        let mut auth = redis::cmd("AUTH");
        if let Some(u) = settings.username() {
            auth.arg(u);
        }
        auth.arg(p);
        pipe.add_command(auth).ignore();
    }
    if settings.db() != 0 {
        pipe.cmd("SELECT").arg(settings.db()).ignore();
    }
    (pipe.cmd_iter().count() > 0).then_some(pipe)
}

/// Queues the handshake on the connection (its first poll sends it) and
/// returns it to be awaited behind the commands queued after it. A refused
/// AUTH reads as the connection set-up's own "authentication failed".
async fn start_handshake(conn: &MultiplexedConnection, pipe: Pipeline) -> Handshake {
    use futures_util::FutureExt;
    let mut c = conn.clone();
    let fut: std::pin::Pin<Box<dyn std::future::Future<Output = RedisResult<()>> + Send>> =
        Box::pin(async move {
            let r: RedisResult<()> = pipe.query_async(&mut c).await;
            r.map_err(|e| {
                let text = e.to_string().to_ascii_lowercase();
                if text.contains("wrongpass")
                    || text.contains("invalid username-password")
                    || text.contains("noauth")
                {
                    RedisError::from((
                        redis::ErrorKind::AuthenticationFailed,
                        "authentication failed",
                    ))
                } else {
                    e
                }
            })
        });
    let shared = fut.shared();
    let mut first = shared.clone();
    std::future::poll_fn(|cx| {
        let _ = first.poll_unpin(cx);
        std::task::Poll::Ready(())
    })
    .await;
    shared
}

/// Classifies a redis error into a SPEC section 5 kind.
pub(crate) fn classify(e: &RedisError) -> ErrorKind {
    use redis::ErrorKind as K;
    let text = e.to_string().to_lowercase();
    if text.contains(budget::MARKER) {
        return ErrorKind::Protocol;
    }
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    if text.contains("certificate")
        || text.contains("tls")
        || text.contains("handshake")
        || text.contains("unknownissuer")
        || text.contains("peer sent no certificates")
    {
        return ErrorKind::Tls;
    }
    if text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("no such host")
        || text.contains("dns")
    {
        return ErrorKind::Dns;
    }
    if e.kind() == K::AuthenticationFailed
        || text.contains("wrongpass")
        || text.contains("noauth")
        || text.contains("invalid username-password")
        || text.contains("authentication failed")
    {
        return ErrorKind::Auth;
    }
    if e.is_connection_refusal() || text.contains("connection refused") {
        return ErrorKind::Refused;
    }
    match e.kind() {
        K::AuthenticationFailed => ErrorKind::Auth,
        K::Parse | K::UnexpectedReturnType => ErrorKind::Protocol,
        _ if text.contains("wrongpass")
            || text.contains("noauth")
            || text.contains("invalid username-password") =>
        {
            ErrorKind::Auth
        }
        K::Io => {
            if text.contains("timed out") {
                ErrorKind::Timeout
            } else if text.contains("reset") || text.contains("broken pipe") || text.contains("eof")
            {
                ErrorKind::Protocol
            } else {
                ErrorKind::Refused
            }
        }
        _ => ErrorKind::Redis,
    }
}

/// Removes a secret from a message, belt and braces.
fn scrub(msg: &str, secret: Option<&Secret>) -> String {
    let mut m = msg.replace('\n', " ");
    if let Some(s) = secret
        && !s.expose().is_empty()
    {
        m = m.replace(s.expose(), crate::output::REDACTED);
    }
    // Any URL in the message loses its password too.
    m.split(' ')
        .map(|w| {
            if w.contains("://") {
                redact_url(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A server error reply as Redis wrote it: `CODE detail`.
fn server_reply(code: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) if !d.is_empty() => format!("{code} {d}"),
        _ => code.to_string(),
    }
}

/// A redis error in qctl's words: the one place the redis crate's error
/// texts (`- AuthenticationFailed`, `Transaction aborted: [(Index 0, ...)]`,
/// `timed out`) are turned into messages a user reads. `budget` is the
/// time the failed step had, for timeouts.
pub(crate) fn describe_error(e: &RedisError, kind: ErrorKind, budget: Duration) -> String {
    use redis::ErrorKind as K;
    if kind == ErrorKind::Timeout {
        return format!("no answer within {}", humantime::format_duration(budget));
    }
    let text = e.to_string();
    if text.contains(budget::MARKER) {
        return text;
    }
    let generic_auth = e.kind() == K::AuthenticationFailed
        || (kind == ErrorKind::Auth && e.clone().into_server_errors().is_none());
    if generic_auth {
        return "authentication failed: the server refused the password (or username); check the user entry's password-env, password-file or password".into();
    }
    if let Some(items) = e.clone().into_server_errors() {
        let parts: Vec<String> = items
            .iter()
            .map(|(i, se)| {
                let reply = server_reply(se.code(), se.details());
                if items.len() > 1 || *i > 0 || text.starts_with("Transaction") {
                    format!("command {}: {reply}", i + 1)
                } else {
                    reply
                }
            })
            .collect();
        let joined = parts.join("; ");
        return match kind {
            ErrorKind::Auth => format!("authentication failed: {joined}"),
            _ if text.starts_with("Transaction aborted") => {
                format!("the transaction was aborted ({joined})")
            }
            _ => joined,
        };
    }
    let plain = match (e.kind(), e.detail()) {
        (K::Parse, d) => format!(
            "the server's reply is not valid RESP{}",
            d.map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        (K::UnexpectedReturnType, d) => format!(
            "unexpected reply type{}",
            d.map(|d| format!(": {d}")).unwrap_or_default()
        ),
        _ => strip_kinds(&text),
    };
    match kind {
        ErrorKind::Auth => format!("authentication failed: {plain}"),
        _ => plain,
    }
}

/// Drops the redis crate's `- KindName` tags: `Failed to connect - IoError:
/// reset` becomes `Failed to connect: reset`.
fn strip_kinds(text: &str) -> String {
    let mut parts = text.split(" - ");
    let mut out = parts.next().unwrap_or("").to_string();
    for p in parts {
        let word_end = p
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(p.len());
        let rest = p[word_end..].trim_start_matches(':').trim_start();
        if word_end == 0 || !p.starts_with(|c: char| c.is_ascii_uppercase()) {
            out.push_str(" - ");
            out.push_str(p);
        } else if !rest.is_empty() {
            out.push_str(": ");
            out.push_str(rest);
        }
    }
    out
}

/// A context error from a redis error.
pub(crate) fn context_error(
    context: &str,
    e: &RedisError,
    secret: Option<&Secret>,
    budget: Duration,
) -> ContextError {
    let kind = classify(e);
    ContextError {
        context: context.to_string(),
        kind,
        message: scrub(&describe_error(e, kind, budget), secret),
    }
}

/// Renders a command for `-v`, with AUTH/HELLO arguments redacted.
pub(crate) fn describe(cmd: &Cmd) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut redact_rest = false;
    for (i, arg) in cmd.args_iter().enumerate() {
        let s = match arg {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Arg::Cursor => "0".to_string(),
            _ => "?".to_string(),
        };
        if i == 0 {
            let up = s.to_ascii_uppercase();
            redact_rest = up == "AUTH" || up == "HELLO";
            parts.push(up);
            continue;
        }
        if redact_rest {
            parts.push("REDACTED".into());
        } else if s.len() > 80 {
            parts.push(format!(
                "{}...",
                &s[..s.char_indices().nth(77).map_or(s.len(), |(i, _)| i)]
            ));
        } else {
            parts.push(s);
        }
    }
    parts.join(" ")
}

/// `#insecure` makes the redis crate's address an insecure TLS one; the TLS
/// client ([`dial::TlsClient`]) follows it.
fn url_for(url: &str, tls: &TlsSettings) -> String {
    if tls.insecure_skip_verify && url.starts_with("rediss://") && !url.contains('#') {
        format!("{url}#insecure")
    } else {
        url.to_string()
    }
}

/// The TLS client for a `rediss://` address, `None` for the others.
fn tls_for(
    addr: &redis::ConnectionAddr,
    tls: &TlsSettings,
) -> Result<Option<dial::TlsClient>, String> {
    match addr {
        redis::ConnectionAddr::TcpTls { insecure, .. } => {
            dial::TlsClient::new(tls, *insecure || tls.insecure_skip_verify).map(Some)
        }
        _ => Ok(None),
    }
}

impl Conn {
    /// Connects within `connect_timeout`; every later round trip is bounded
    /// by `response_timeout`. For reads: on Redis Cluster a command that
    /// fails on a dropped connection or a timeout is retried once.
    pub(crate) async fn open(
        ep: &Endpoint,
        connect_timeout: Duration,
        response_timeout: Duration,
        verbose: bool,
    ) -> Result<Conn, ContextError> {
        Self::open_with(ep, connect_timeout, response_timeout, verbose, 1, false).await
    }

    /// As [`Conn::open`], for a connection that only ever reads (the read
    /// verbs' probes): AUTH and SELECT travel with its first commands
    /// rather than in a round trip of their own.
    pub(crate) async fn open_for_reads(
        ep: &Endpoint,
        connect_timeout: Duration,
        response_timeout: Duration,
        verbose: bool,
    ) -> Result<Conn, ContextError> {
        Self::open_with(ep, connect_timeout, response_timeout, verbose, 1, true).await
    }

    /// As [`Conn::open`], for write verbs: the cluster client never sends a
    /// command twice. Its retry after a timeout or a dropped connection
    /// re-sends a command the server may already have run (a second LPUSH
    /// of a window, a second claim script); the write protocols are
    /// idempotent across *runs*, so a failed step is an error to re-run,
    /// never a silent retry. (A MOVED/ASK redirect, which only happens while
    /// slots migrate, is then an error too.)
    pub(crate) async fn open_for_writes(
        ep: &Endpoint,
        connect_timeout: Duration,
        response_timeout: Duration,
        verbose: bool,
    ) -> Result<Conn, ContextError> {
        Self::open_with(ep, connect_timeout, response_timeout, verbose, 0, false).await
    }

    async fn open_with(
        ep: &Endpoint,
        connect_timeout: Duration,
        response_timeout: Duration,
        verbose: bool,
        retries: u32,
        pipelined_handshake: bool,
    ) -> Result<Conn, ContextError> {
        let cfg_err = |message: String| ContextError {
            context: ep.context.clone(),
            kind: ErrorKind::Config,
            message,
        };
        if verbose {
            eprintln!(
                "[{}] connect {} ({}{})",
                ep.context,
                ep.display_url(),
                match &ep.username {
                    Some(u) => format!("AUTH {u} REDACTED"),
                    None if ep.password.is_some() => "AUTH REDACTED".into(),
                    None => "no auth".into(),
                },
                if ep.mode == Mode::Cluster {
                    ", cluster"
                } else {
                    ""
                }
            );
        }
        let secret = ep.password.clone();
        let rerr = |e: RedisError| context_error(&ep.context, &e, secret.as_ref(), connect_timeout);
        // Read-only connections send AUTH and SELECT with their first
        // commands; the others wait for them first (a write must never
        // reach database 0 before SELECT is known to have failed).
        let mut handshake_cmds: Option<Pipeline> = None;
        let mut handshake: Option<Handshake> = None;
        let inner = match ep.mode {
            Mode::Standalone => {
                let url = url_for(&ep.urls[0], &ep.tls);
                let mut info: redis::ConnectionInfo =
                    redis::IntoConnectionInfo::into_connection_info(url.as_str())
                        .map_err(|e| cfg_err(scrub(&e.to_string(), secret.as_ref())))?;
                let mut settings = info.redis_settings().clone();
                if let Some(u) = &ep.username {
                    settings = settings.set_username(u);
                }
                if let Some(p) = &ep.password {
                    settings = settings.set_password(p.expose());
                }
                if pipelined_handshake {
                    // Sent by `handshake` with the first reads instead.
                    handshake_cmds = handshake_pipe(&settings);
                    settings = redis::RedisConnectionInfo::default().set_db(0);
                }
                info = info.set_redis_settings(settings.set_skip_set_lib_name());
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout));
                let tls = tls_for(info.addr(), &ep.tls).map_err(cfg_err)?;
                // Our own socket, so that what a reply may make us hold is
                // capped (budget.rs).
                let connecting = dial::connect(&info, tls.as_ref(), connect_timeout, config);
                let conn = tokio::time::timeout(connect_timeout + response_timeout, connecting)
                    .await
                    .map_err(|_| ContextError {
                        context: ep.context.clone(),
                        kind: ErrorKind::Timeout,
                        message: format!(
                            "no answer within {}",
                            humantime::format_duration(connect_timeout)
                        ),
                    })?
                    .map_err(rerr)?;
                if let Some(pipe) = handshake_cmds.take() {
                    handshake = Some(start_handshake(&conn, pipe).await);
                }
                Inner::Single(conn)
            }
            Mode::Cluster => {
                // The seeds with database 0: the connector's key takes its
                // place (dial.rs), and the URLs' number goes back in there.
                let mut seeds: Vec<redis::ConnectionInfo> = Vec::new();
                let mut db = 0;
                for u in &ep.urls {
                    let info = redis::IntoConnectionInfo::into_connection_info(
                        url_for(u, &ep.tls).as_str(),
                    )
                    .map_err(|e| cfg_err(scrub(&e.to_string(), secret.as_ref())))?;
                    let n = info.redis_settings().db();
                    if n != 0 && db != 0 && n != db {
                        return Err(cfg_err("the seed nodes name different databases".into()));
                    }
                    if n != 0 {
                        db = n;
                    }
                    let settings = info.redis_settings().clone().set_db(0);
                    seeds.push(info.set_redis_settings(settings));
                }
                let tls = match seeds.first() {
                    Some(first) => tls_for(first.addr(), &ep.tls).map_err(cfg_err)?,
                    None => None,
                };
                let registration = Arc::new(dial::register(dial::NodeSetup {
                    tls,
                    db,
                    connect_timeout,
                }));
                let mut b = redis::cluster::ClusterClientBuilder::new(seeds)
                    .connection_timeout(connect_timeout)
                    .response_timeout(response_timeout)
                    .retries(retries)
                    .database_id(registration.key());
                if let Some(u) = &ep.username {
                    b = b.username(u);
                }
                if let Some(p) = &ep.password {
                    b = b.password(p.expose());
                }
                let client = b
                    .build()
                    .map_err(|e| cfg_err(scrub(&e.to_string(), secret.as_ref())))?;
                let mut conn = tokio::time::timeout(
                    connect_timeout + response_timeout,
                    client.get_async_generic_connection::<dial::NodeConn>(),
                )
                .await
                .map_err(|_| ContextError {
                    context: ep.context.clone(),
                    kind: ErrorKind::Timeout,
                    message: format!(
                        "no answer within {}",
                        humantime::format_duration(connect_timeout)
                    ),
                })?
                .map_err(rerr)?;
                let slots: Value = conn
                    .route_command(
                        redis::cmd("CLUSTER").arg("SLOTS").clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await
                    .map_err(rerr)?;
                let nodes = primaries(&slots);
                if nodes.is_empty() {
                    return Err(ContextError {
                        context: ep.context.clone(),
                        kind: ErrorKind::Protocol,
                        message: "CLUSTER SLOTS named no primary".into(),
                    });
                }
                Inner::Cluster(conn, nodes, registration)
            }
        };
        Ok(Conn {
            context: ep.context.clone(),
            verbose,
            inner,
            secret,
            timeout: response_timeout,
            handshake,
        })
    }

    /// Sends `request` (its first poll queues it on the connection), then
    /// waits for the handshake queued before it, then for its answer.
    async fn behind_handshake<T>(
        &self,
        request: impl std::future::Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        let Some(h) = &self.handshake else {
            return request.await;
        };
        let mut request = std::pin::pin!(request);
        let first =
            std::future::poll_fn(|cx| std::task::Poll::Ready(request.as_mut().poll(cx))).await;
        h.clone().await?;
        match first {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => request.await,
        }
    }

    /// Turns a redis error on this connection into a context error.
    pub(crate) fn error(&self, e: &RedisError) -> ContextError {
        context_error(&self.context, e, self.secret.as_ref(), self.timeout)
    }

    /// Whether this is a Redis Cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(..))
    }

    /// The primaries to visit for whole-keyspace reads.
    pub(crate) fn nodes(&self) -> Vec<Node> {
        match &self.inner {
            Inner::Single(_) => vec![Node {
                host: String::new(),
                port: 0,
            }],
            Inner::Cluster(_, nodes, _) => nodes.clone(),
        }
    }

    fn log(&self, node: Option<&Node>, what: &str) {
        if self.verbose {
            match node {
                Some(n) if !n.host.is_empty() => {
                    eprintln!("[{}@{}:{}] {what}", self.context, n.host, n.port)
                }
                _ => eprintln!("[{}] {what}", self.context),
            }
        }
    }

    /// A command routed by its key (or to any node when it has none).
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        if self.verbose {
            self.log(None, &describe(cmd));
        }
        match &self.inner {
            Inner::Single(c) => self.behind_handshake(cmd.query_async(&mut c.clone())).await,
            Inner::Cluster(c, ..) => cmd.query_async(&mut c.clone()).await,
        }
    }

    /// A pipeline whose keys all live in one hash slot (always true on a
    /// standalone server), routed by its first key; `atomic` wraps it in
    /// MULTI/EXEC.
    pub(crate) async fn pipe_slot<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> RedisResult<Vec<T>> {
        if self.verbose {
            for cmd in pipe.cmd_iter() {
                self.log(None, &describe(cmd));
            }
        }
        let values: Vec<Value> = match &self.inner {
            Inner::Single(c) => {
                self.behind_handshake(pipe.query_async(&mut c.clone()))
                    .await?
            }
            Inner::Cluster(c, ..) => pipe.query_async(&mut c.clone()).await?,
        };
        values
            .into_iter()
            .map(|v| T::from_redis_value(v).map_err(RedisError::from))
            .collect()
    }

    /// Single-key commands, each routed by its key: one pipeline on a
    /// standalone server; on a cluster, one routed command each (their keys
    /// may live in different slots).
    pub(crate) async fn each_key<T: FromRedisValue>(&self, cmds: &[Cmd]) -> RedisResult<Vec<T>> {
        match &self.inner {
            Inner::Single(_) => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c.clone());
                }
                let node = self.nodes().remove(0);
                self.pipe_node(&node, &pipe).await
            }
            Inner::Cluster(..) => {
                // Sent concurrently: the cluster client pipelines them per
                // node on its connections.
                futures_util::future::try_join_all(cmds.iter().map(|c| self.query(c))).await
            }
        }
    }

    /// A Lua script, routed by its first key (EVALSHA, loading it on
    /// NOSCRIPT).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        self.log(None, "EVALSHA (qctl script)");
        match &self.inner {
            Inner::Single(c) => {
                self.behind_handshake(inv.invoke_async(&mut c.clone()))
                    .await
            }
            Inner::Cluster(c, ..) => inv.invoke_async(&mut c.clone()).await,
        }
    }

    /// Every key matching `pattern` on every primary (SCAN with a large
    /// COUNT, deduplicated). For patterns that match few keys.
    pub(crate) async fn scan_match(&self, pattern: &str) -> RedisResult<Vec<String>> {
        let mut keys: Vec<String> = Vec::new();
        for node in self.nodes() {
            let mut cursor: u64 = 0;
            loop {
                let mut c = redis::cmd("SCAN");
                c.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(10_000);
                let (next, page): (u64, Vec<Vec<u8>>) = self.query_node(&node, &c).await?;
                keys.extend(page.into_iter().filter_map(|k| String::from_utf8(k).ok()));
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// A command sent to one primary.
    pub(crate) async fn query_node<T: FromRedisValue>(
        &self,
        node: &Node,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        if self.verbose {
            self.log(Some(node), &describe(cmd));
        }
        match &self.inner {
            Inner::Single(c) => self.behind_handshake(cmd.query_async(&mut c.clone())).await,
            Inner::Cluster(c, ..) => {
                let v = c
                    .clone()
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: node.host.clone(),
                            port: node.port,
                        }),
                    )
                    .await?;
                // A routed command returns an error reply as a value.
                T::from_redis_value(v.extract_error()?).map_err(RedisError::from)
            }
        }
    }

    /// A pipeline sent to one primary; its keys must live there.
    pub(crate) async fn pipe_node<T: FromRedisValue>(
        &self,
        node: &Node,
        pipe: &Pipeline,
    ) -> RedisResult<Vec<T>> {
        if self.verbose {
            for cmd in pipe.cmd_iter() {
                self.log(Some(node), &describe(cmd));
            }
        }
        let n = pipe.cmd_iter().count();
        if n == 0 {
            return Ok(Vec::new());
        }
        let values: Vec<Value> = match &self.inner {
            Inner::Single(c) => {
                self.behind_handshake(pipe.query_async(&mut c.clone()))
                    .await?
            }
            Inner::Cluster(c, ..) => {
                c.clone()
                    .route_pipeline(
                        pipe.clone(),
                        0,
                        n,
                        SingleNodeRoutingInfo::ByAddress {
                            host: node.host.clone(),
                            port: node.port,
                        },
                    )
                    .await?
            }
        };
        values
            .into_iter()
            .map(|v| T::from_redis_value(v).map_err(RedisError::from))
            .collect()
    }
}

/// Primaries from a `CLUSTER SLOTS` reply: the first node of each range.
fn primaries(slots: &Value) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    if let Value::Array(ranges) = slots {
        for r in ranges {
            if let Value::Array(parts) = r
                && let Some(Value::Array(node)) = parts.get(2)
            {
                let host = match node.first() {
                    Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(Value::SimpleString(s)) => s.clone(),
                    _ => continue,
                };
                let port = match node.get(1) {
                    Some(Value::Int(p)) => *p as u16,
                    _ => continue,
                };
                let n = Node { host, port };
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_redacts_auth() {
        let mut c = redis::cmd("AUTH");
        c.arg("ops").arg("hunter2");
        assert_eq!(describe(&c), "AUTH REDACTED REDACTED");
        let mut c = redis::cmd("hello");
        c.arg(3).arg("AUTH").arg("u").arg("p");
        assert_eq!(describe(&c), "HELLO REDACTED REDACTED REDACTED REDACTED");
        let mut c = redis::cmd("LLEN");
        c.arg("jobqueue:high_priority");
        assert_eq!(describe(&c), "LLEN jobqueue:high_priority");
    }

    #[test]
    fn kinds_are_stripped() {
        assert_eq!(
            strip_kinds("Failed to connect - IoError: connection reset"),
            "Failed to connect: connection reset"
        );
        assert_eq!(strip_kinds("x - AuthenticationFailed"), "x");
        assert_eq!(strip_kinds("a - b"), "a - b");
    }

    #[test]
    fn scrub_removes_secrets() {
        let s = Secret::new("hunter2");
        assert_eq!(scrub("bad hunter2 here", Some(&s)), "bad REDACTED here");
        assert_eq!(
            scrub("at redis://:pw@h:1", None),
            "at redis://:REDACTED@h:1"
        );
    }
}
