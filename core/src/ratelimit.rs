//! Failure-driven rate limiting against brute force: guessing client secrets, probing session ids.
//!
//! Only *failures* are counted, per key (a client id, a source address), in a fixed window. While a
//! key is over its limit its requests are refused before any secret is checked, so guessing gets no
//! feedback. In-process: with several instances the effective limit is per instance.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys tracked at most; beyond it the oldest windows are dropped first.
const MAX_KEYS: usize = 10_000;

#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window_secs: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl Limiter {
    pub fn new(limit: u32, window_secs: i64) -> Limiter {
        Limiter { limit, window_secs, windows: Mutex::new(HashMap::new()) }
    }

    /// Seconds to wait when `key` is over its limit at `now` (never, when the limit is 0).
    pub fn blocked(&self, key: &str, now: i64) -> Option<i64> {
        if self.limit == 0 {
            return None;
        }
        let g = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match g.get(key) {
            Some((start, n)) if *n >= self.limit && now - start < self.window_secs => {
                Some(self.window_secs - (now - start))
            }
            _ => None,
        }
    }

    /// Counts one failure of `key`.
    pub fn failed(&self, key: &str, now: i64) {
        if self.limit == 0 {
            return;
        }
        let mut g = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_KEYS && !g.contains_key(key) {
            let window = self.window_secs;
            g.retain(|_, (start, _)| now - *start < window);
            if g.len() >= MAX_KEYS {
                // Still full of live windows: forget the oldest.
                if let Some(oldest) = g.iter().min_by_key(|(_, (start, _))| *start).map(|(k, _)| k.clone()) {
                    g.remove(&oldest);
                }
            }
        }
        let entry = g.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= self.window_secs {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let l = Limiter::new(3, 60);
        for _ in 0..3 {
            assert!(l.blocked("a", 100).is_none());
            l.failed("a", 100);
        }
        assert_eq!(l.blocked("a", 110), Some(50));
        assert!(l.blocked("b", 110).is_none(), "keys are independent");
        assert!(l.blocked("a", 160).is_none(), "a new window");
        l.failed("a", 160);
        assert!(l.blocked("a", 161).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let l = Limiter::new(1, 60);
        for i in 0..(MAX_KEYS + 50) {
            l.failed(&format!("k{i}"), i as i64);
        }
        assert!(l.windows.lock().unwrap().len() <= MAX_KEYS);
    }
}
