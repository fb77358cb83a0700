//! Unique identifiers for inboxes: 22 base-62 characters, a 12-character random
//! prefix and a 10-character sequence that advances by a random increment.

use parking_lot::Mutex;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX_LEN: usize = 12;
const SEQ_LEN: usize = 10;
/// Total length of a NUID.
pub(crate) const NUID_LEN: usize = PREFIX_LEN + SEQ_LEN;
const MAX_SEQ: u64 = 839_299_365_868_340_224; // 62^10
const MIN_INC: u64 = 33;
const MAX_INC: u64 = 333;

/// Fills `buf` with random bytes from the kernel; falls back to time and address
/// entropy if `getrandom` is unavailable (never panics).
pub(crate) fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n <= 0 {
            break;
        }
        filled += n as usize;
    }
    if filled < buf.len() {
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            ^ (buf.as_ptr() as u64);
        for b in &mut buf[filled..] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    u64::from_le_bytes(b)
}

struct Nuid {
    prefix: [u8; PREFIX_LEN],
    seq: u64,
    inc: u64,
}

impl Nuid {
    fn new() -> Self {
        let mut n = Nuid {
            prefix: [0; PREFIX_LEN],
            seq: 0,
            inc: 0,
        };
        n.reset();
        n
    }

    fn reset(&mut self) {
        let mut raw = [0u8; PREFIX_LEN];
        random_bytes(&mut raw);
        for (p, r) in self.prefix.iter_mut().zip(raw) {
            *p = DIGITS[(r % 62) as usize];
        }
        self.seq = random_u64() % MAX_SEQ;
        self.inc = MIN_INC + random_u64() % (MAX_INC - MIN_INC);
    }

    fn next(&mut self, out: &mut [u8; NUID_LEN]) {
        self.seq += self.inc;
        if self.seq >= MAX_SEQ {
            self.reset();
        }
        out[..PREFIX_LEN].copy_from_slice(&self.prefix);
        let mut s = self.seq;
        for i in (PREFIX_LEN..NUID_LEN).rev() {
            out[i] = DIGITS[(s % 62) as usize];
            s /= 62;
        }
    }
}

static GLOBAL: Mutex<Option<Nuid>> = Mutex::new(None);

/// A new process-unique identifier.
pub(crate) fn next() -> String {
    let mut out = [0u8; NUID_LEN];
    GLOBAL.lock().get_or_insert_with(Nuid::new).next(&mut out);
    // All bytes come from DIGITS, which is ASCII.
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_and_well_formed() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = next();
            assert_eq!(id.len(), NUID_LEN);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn rollover_resets_prefix() {
        let mut n = Nuid::new();
        let before = n.prefix;
        n.seq = MAX_SEQ - 1;
        let mut out = [0u8; NUID_LEN];
        n.next(&mut out);
        assert_ne!(before, n.prefix);
        assert!(n.seq < MAX_SEQ);
    }
}
