//! The server pool and the reconnect schedule, without I/O.
//!
//! The pool holds the servers given in the options (explicit) and those the
//! servers announce in INFO `connect_urls` (implicit). Its order and the
//! attempt accounting follow nats.c: the server being left moves to the back
//! (or is dropped once it has used its `max_reconnect` attempts), so each
//! attempt goes to the server at the front. [`Backoff`] decides how long to
//! wait before each attempt: almost nothing between servers, and the
//! reconnect wait plus jitter (or the application's custom delay) after a
//! full pass over the pool.

use std::time::Duration;

use crate::error::Result;
use crate::options::{Options, ServerUrl};

/// One server of the pool.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// Unique within the pool (positions change, ids do not).
    pub id: u64,
    pub url: ServerUrl,
    /// Discovered from INFO rather than given in the options.
    pub implicit: bool,
    /// Attempts since the last successful connection to this server.
    pub reconnects: i32,
    /// A connection to this server completed its handshake at least once.
    pub did_connect: bool,
    /// Text of the last authentication error this server sent.
    pub last_auth_error: Option<String>,
}

/// The servers a connection may use, in the order they will be tried.
#[derive(Debug, Clone)]
pub(crate) struct ServerPool {
    servers: Vec<Server>,
    next_id: u64,
    randomize: bool,
}

/// `host:port` in a canonical spelling: the loopback spellings of one port
/// (`localhost`, `127.0.0.1`, `[::1]`) are the same server.
fn key(host: &str, port: u16) -> String {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h == "127.0.0.1" || h == "::1" {
        format!("localhost:{port}")
    } else {
        format!("{}:{port}", h.to_ascii_lowercase())
    }
}

impl ServerPool {
    /// The pool of `opts`: the URL first, then the server list (shuffled
    /// unless `no_randomize`), the default URL if both are empty.
    ///
    /// # Errors
    /// `InvalidArg` for a malformed URL.
    pub(crate) fn new(opts: &Options) -> Result<ServerPool> {
        let mut pool = ServerPool {
            servers: Vec::new(),
            next_id: 1,
            randomize: !opts.no_randomize,
        };
        for raw in opts.server_list() {
            let url = ServerUrl::parse(&raw)?;
            pool.push(url, false);
        }
        Ok(pool)
    }

    fn push(&mut self, url: ServerUrl, implicit: bool) {
        self.servers.push(Server {
            id: self.next_id,
            url,
            implicit,
            reconnects: 0,
            did_connect: false,
            last_auth_error: None,
        });
        self.next_id += 1;
    }

    /// Number of servers.
    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    /// The server at `pos` in the current order.
    pub(crate) fn at(&self, pos: usize) -> Option<&Server> {
        self.servers.get(pos)
    }

    /// The server with this id.
    pub(crate) fn get(&self, id: u64) -> Option<&Server> {
        self.servers.iter().find(|s| s.id == id)
    }

    /// The server with this id, mutably.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.id == id)
    }

    /// Leaves server `cur`: it moves to the back, or is dropped if it has used
    /// its `max_reconnect` attempts (negative: unlimited). Returns the server
    /// to try next (the front), or `None` when the pool is empty. If `cur` is
    /// not in the pool, the front is returned unchanged.
    pub(crate) fn next_server(&mut self, cur: Option<u64>, max_reconnect: i32) -> Option<u64> {
        if let Some(i) = cur.and_then(|id| self.servers.iter().position(|s| s.id == id)) {
            let s = self.servers.remove(i);
            if max_reconnect < 0 || s.reconnects < max_reconnect {
                self.servers.push(s);
            }
        }
        self.servers.first().map(|s| s.id)
    }

    /// Merges the `connect_urls` of an INFO (`host:port` strings): implicit
    /// servers no longer listed are removed (except `cur`), new ones are
    /// added (shuffled behind the front when randomizing). Returns true if a
    /// server never seen before was added.
    pub(crate) fn add_discovered(&mut self, urls: &[String], cur: Option<u64>) -> bool {
        // Keys in sets: a server may announce hundreds of URLs in every INFO.
        let mut announced: Vec<(String, ServerUrl)> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for u in urls {
            let Ok(url) = ServerUrl::parse(u) else {
                continue; // A server cannot make us fail with a bad URL.
            };
            let k = key(&url.host, url.port);
            if keys.insert(k.clone()) {
                announced.push((k, url));
            }
        }
        self.servers.retain(|s| {
            !s.implicit || Some(s.id) == cur || keys.contains(&key(&s.url.host, s.url.port))
        });
        let known: std::collections::HashSet<String> = self
            .servers
            .iter()
            .map(|s| key(&s.url.host, s.url.port))
            .collect();
        let mut added = false;
        for (k, url) in announced {
            if !known.contains(&k) {
                self.push(url, true);
                added = true;
            }
        }
        if added && self.randomize && self.servers.len() > 2 {
            crate::options::shuffle(&mut self.servers[1..]);
        }
        added
    }

    /// Every server, as `nats://host:port`.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.url.display()).collect()
    }

    /// The discovered (implicit) servers, as `nats://host:port`.
    pub(crate) fn discovered(&self) -> Vec<String> {
        self.servers
            .iter()
            .filter(|s| s.implicit)
            .map(|s| s.url.display())
            .collect()
    }
}

/// How long to wait before each reconnect attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Attempts since the last full pass.
    tried: usize,
    /// Full passes so far (the custom delay callback's attempt number).
    passes: u32,
}

/// What the wait before an attempt is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Moving on to the next server of the pass: 1 ms, as nats.c.
    NextServer,
    /// A full pass is over: the reconnect wait plus jitter, or the custom delay
    /// for pass number `n` (from 1).
    Pass(u32),
}

impl Backoff {
    /// Classifies the wait before the next attempt, for a pool of `pool_len`
    /// servers. With one server every attempt follows a full pass.
    pub(crate) fn next(&mut self, pool_len: usize) -> Wait {
        if self.tried + 1 >= pool_len {
            self.tried = 0;
            self.passes += 1;
            Wait::Pass(self.passes)
        } else {
            self.tried += 1;
            Wait::NextServer
        }
    }
}

/// The wait after a full pass: `wait` plus a random `0..jitter` (`rand` is a
/// random number).
pub(crate) fn pass_delay(wait: Duration, jitter: Duration, rand: u64) -> Duration {
    let j = jitter.as_nanos() as u64;
    if j == 0 {
        wait
    } else {
        wait + Duration::from_nanos(rand % j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(urls: &[&str]) -> ServerPool {
        ServerPool::new(&Options::new().servers(urls).no_randomize(true)).unwrap()
    }

    fn hosts(p: &ServerPool) -> Vec<String> {
        p.servers.iter().map(|s| s.url.display()).collect()
    }

    #[test]
    fn next_server_rotates_and_drops_exhausted() {
        let mut p = pool(&["nats://a:1", "nats://b:2", "nats://c:3"]);
        let a = p.at(0).unwrap().id;
        // a used 2 of 2 attempts: dropped.
        p.get_mut(a).unwrap().reconnects = 2;
        let b = p.next_server(Some(a), 2).unwrap();
        assert_eq!(hosts(&p), ["nats://b:2", "nats://c:3"]);
        // b has attempts left: moves to the back.
        p.get_mut(b).unwrap().reconnects = 1;
        let c = p.next_server(Some(b), 2).unwrap();
        assert_eq!(p.get(c).unwrap().url.display(), "nats://c:3");
        assert_eq!(hosts(&p), ["nats://c:3", "nats://b:2"]);
        // Unlimited attempts never drop a server.
        p.get_mut(c).unwrap().reconnects = 1000;
        p.next_server(Some(c), -1);
        assert_eq!(p.len(), 2);
        // max_reconnect 0 drops the server that just failed.
        let front = p.at(0).unwrap().id;
        p.next_server(Some(front), 0);
        assert_eq!(p.len(), 1);
        let last = p.at(0).unwrap().id;
        assert_eq!(p.next_server(Some(last), 0), None);
    }

    #[test]
    fn discovered_servers_merge() {
        let mut p = pool(&["nats://127.0.0.1:4222"]);
        let cur = p.at(0).map(|s| s.id);
        // The same loopback server under another spelling is not new.
        assert!(!p.add_discovered(&["localhost:4222".into()], cur));
        assert!(p.add_discovered(&["10.0.0.1:4222".into(), "10.0.0.2:4222".into()], cur));
        assert_eq!(p.discovered().len(), 2);
        assert_eq!(p.len(), 3);
        // Announced again: nothing new.
        assert!(!p.add_discovered(&["10.0.0.2:4222".into(), "10.0.0.1:4222".into()], cur));
        // 10.0.0.1 is gone from the cluster: removed; explicit servers stay.
        assert!(!p.add_discovered(&["10.0.0.2:4222".into()], cur));
        assert_eq!(p.discovered(), ["nats://10.0.0.2:4222"]);
        // The current server stays even if it is implicit and unlisted.
        let implicit = p.servers.iter().find(|s| s.implicit).unwrap().id;
        p.add_discovered(&[], Some(implicit));
        assert_eq!(p.discovered(), ["nats://10.0.0.2:4222"]);
        p.add_discovered(&[], cur);
        assert!(p.discovered().is_empty());
        // Garbage from a server is ignored.
        assert!(!p.add_discovered(&["nats://h:notaport".into()], cur));
    }

    #[test]
    fn backoff_waits_after_each_full_pass() {
        let mut b = Backoff::default();
        assert_eq!(b.next(1), Wait::Pass(1));
        assert_eq!(b.next(1), Wait::Pass(2));
        let mut b = Backoff::default();
        let seq: Vec<Wait> = (0..6).map(|_| b.next(3)).collect();
        assert_eq!(
            seq,
            [
                Wait::NextServer,
                Wait::NextServer,
                Wait::Pass(1),
                Wait::NextServer,
                Wait::NextServer,
                Wait::Pass(2)
            ]
        );
    }

    #[test]
    fn pass_delay_stays_within_jitter_bounds() {
        let wait = Duration::from_millis(100);
        let jitter = Duration::from_millis(10);
        for r in [0u64, 1, 9_999_999, 10_000_000, u64::MAX, 123_456_789] {
            let d = pass_delay(wait, jitter, r);
            assert!(d >= wait && d < wait + jitter, "{d:?}");
        }
        assert_eq!(pass_delay(wait, Duration::ZERO, 77), wait);
    }
}
