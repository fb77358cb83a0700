//! `natsStatistics_*`, `natsConnection_GetStats`, and the health extension
//! (`natsConnHealth`, `natsConnection_GetHealth`).

use std::ffi::c_int;

use super::conn::natsConnection;
use super::{arg_mut, arg_ref, natsConnStatus, natsStatus, run};
use crate::engine::Statistics;

/// Connection counters (`natsStatistics`), created by `natsStatistics_Create`,
/// filled by `natsConnection_GetStats`, destroyed by `natsStatistics_Destroy`.
#[derive(Default)]
pub struct natsStatistics {
    stats: Statistics,
}

/// Creates a statistics object.
///
/// NULL: `newStats` NULL returns `NATS_INVALID_ARG` (nats.c crashes).
///
/// # Safety
/// `newStats` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsStatistics_Create(newStats: *mut *mut natsStatistics) -> natsStatus {
    run("natsStatistics_Create", || {
        // SAFETY: NULL-checked; writable per the contract.
        let out = unsafe { arg_mut(newStats, "newStats") }?;
        *out = Box::into_raw(Box::default());
        Ok(())
    })
}

/// Reads the counters; any out-pointer may be NULL.
///
/// # Safety
/// `stats` NULL or valid; out-pointers NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsStatistics_GetCounts(
    stats: *const natsStatistics,
    inMsgs: *mut u64,
    inBytes: *mut u64,
    outMsgs: *mut u64,
    outBytes: *mut u64,
    reconnects: *mut u64,
) -> natsStatus {
    run("natsStatistics_GetCounts", || {
        // SAFETY: NULL or valid per the contract.
        let s = unsafe { arg_ref(stats, "stats") }?.stats;
        for (p, v) in [
            (inMsgs, s.in_msgs),
            (inBytes, s.in_bytes),
            (outMsgs, s.out_msgs),
            (outBytes, s.out_bytes),
            (reconnects, s.reconnects),
        ] {
            // SAFETY: NULL or writable per the contract.
            if let Some(p) = unsafe { p.as_mut() } {
                *p = v;
            }
        }
        Ok(())
    })
}

/// Destroys a statistics object (NULL is ignored).
///
/// # Safety
/// `stats` NULL or from `natsStatistics_Create`; not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsStatistics_Destroy(stats: *mut natsStatistics) {
    super::guard("natsStatistics_Destroy", (), || {
        if !stats.is_null() {
            // SAFETY: from Box::into_raw in natsStatistics_Create.
            drop(unsafe { Box::from_raw(stats) });
        }
    })
}

/// Copies the connection's counters into `stats` (the final ones once closed).
///
/// # Safety
/// `nc` and `stats` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetStats(
    nc: *mut natsConnection,
    stats: *mut natsStatistics,
) -> natsStatus {
    run("natsConnection_GetStats", || {
        // SAFETY: NULL or valid per the contract.
        let c = unsafe { arg_ref(nc, "connection") }?;
        // SAFETY: as above.
        let s = unsafe { arg_mut(stats, "stats") }?;
        // After close too (nats.c gives the final counts).
        s.stats = c.conn.statistics();
        Ok(())
    })
}

/// Extension (not in nats.c): a snapshot of a connection's health, filled by
/// `natsConnection_GetHealth`. The header defines `NATS_EXT_CONN_HEALTH` when
/// this is available.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct natsConnHealth {
    /// The connection status (`NATS_CONN_STATUS_CLOSED` once closed).
    pub status: natsConnStatus,
    /// Pings sent and not answered yet.
    pub pingsOut: c_int,
    /// Unanswered pings that make the connection stale.
    pub maxPingsOut: c_int,
    /// The ping interval in milliseconds (0: pings disabled).
    pub pingIntervalMs: i64,
    /// Round-trip time of the last answered PING, in nanoseconds (-1: none yet).
    pub lastRttNs: i64,
    /// Milliseconds since a server last sent anything on this connection
    /// (-1: nothing received yet).
    pub sinceLastReadMs: i64,
    /// Successful reconnections so far.
    pub reconnects: u64,
    /// The connection's last error status (`NATS_OK` if none); its text is
    /// read with `natsConnection_ReadLastError`.
    pub lastError: natsStatus,
    /// Publishes written to a connection that died before the server
    /// confirmed them, not yet reported by a failing flush.
    pub unconfirmedLost: u64,
    /// The connection is idle and read only at its pings (no subscription;
    /// everything sent was answered by the last ping, nothing sent since;
    /// pings every 10 s or more often): a closed socket is still seen at once.
    pub lazyReads: bool,
}

fn clamp_i64(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Extension (not in nats.c): fills `health` with a snapshot of the
/// connection's health: status, pings outstanding, ping settings, last
/// round-trip time, time since the server last sent anything, reconnections,
/// last error. Works on a closed connection too (status
/// `NATS_CONN_STATUS_CLOSED`).
///
/// NULL: `nc` or `health` NULL gives `NATS_INVALID_ARG`.
///
/// # Safety
/// `nc` NULL or valid; `health` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn natsConnection_GetHealth(
    nc: *mut natsConnection,
    health: *mut natsConnHealth,
) -> natsStatus {
    run("natsConnection_GetHealth", || {
        // SAFETY: NULL or valid per the contract.
        let c = unsafe { arg_ref(nc, "connection") }?;
        // SAFETY: NULL or writable per the contract.
        let out = unsafe { arg_mut(health, "health") }?;
        let h = c.conn.health();
        *out = natsConnHealth {
            status: h.status.into(),
            pingsOut: h.pings_out,
            maxPingsOut: h.max_pings_out,
            pingIntervalMs: h.ping_interval.map_or(0, |d| clamp_i64(d.as_millis())),
            lastRttNs: h.last_rtt.map_or(-1, |d| clamp_i64(d.as_nanos())),
            sinceLastReadMs: h.since_last_read.map_or(-1, |d| clamp_i64(d.as_millis())),
            reconnects: h.reconnects,
            lastError: h
                .last_error
                .map_or(natsStatus::NATS_OK, |e| natsStatus::from(e.kind())),
            unconfirmedLost: h.unconfirmed_lost,
            lazyReads: h.lazy_reads,
        };
        Ok(())
    })
}
