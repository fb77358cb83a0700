//! `natsStatistics_*` and `natsConnection_GetStats`.

use super::conn::natsConnection;
use super::{arg_mut, arg_ref, natsStatus, run};
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

/// Copies the connection's counters into `stats`.
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
        if c.conn.is_closed() {
            return Err(crate::Error::new(
                crate::ErrorKind::ConnectionClosed,
                "connection closed",
            ));
        }
        s.stats = c.conn.statistics();
        Ok(())
    })
}
