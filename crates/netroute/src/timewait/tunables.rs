//! MSL classes and the tunables: NetBSD's `tcp_msl_*` variables (tcp_subr.c),
//! `class_to_msl`/`msl_to_class` (tcp_vtw.c) and the `net.inet.tcp.vtw.*` /
//! `net.inet.tcp.mslt.*` sysctls (tcp_usrreq.c).
//!
//! Differences from NetBSD:
//! - Values are held in milliseconds. The by-name interface ([`Tunables::sysctl_set`])
//!   keeps NetBSD's units: MSL values in slow-timer ticks (`PR_SLOWHZ` = 2 per second).
//! - NetBSD's classless class 0 (used while truncation is off) is folded into
//!   [`MslClass::Remote`]: class 0 uses the remote MSL in NetBSD too (`class_to_msl(0)`),
//!   so the only difference was a separate arena slice.

use std::fmt;

use super::VtwError;

/// NetBSD's `PR_SLOWHZ`: slow-timer ticks per second, the unit of the mslt sysctls.
pub const PR_SLOWHZ: u64 = 2;
/// NetBSD's `TCPTV_MSL` in milliseconds (30 s).
pub const TCPTV_MSL_MS: u64 = 30_000;

/// An MSL class (NetBSD `msl_class`): how far away the peer is, which decides how long
/// TIME_WAIT lasts (2 × the class MSL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MslClass {
    /// The peer is this host (NetBSD class 3; local address is loopback or local == remote).
    Loopback,
    /// The peer is on an attached subnet (NetBSD class 2, `in_localaddr`).
    Local,
    /// The peer is reached through a gateway (NetBSD class 1, also class 0).
    Remote,
}

impl MslClass {
    /// All classes, in ring order.
    pub const ALL: [MslClass; 3] = [MslClass::Loopback, MslClass::Local, MslClass::Remote];

    /// Dense index 0..3 of the class.
    pub fn index(self) -> usize {
        match self {
            MslClass::Loopback => 0,
            MslClass::Local => 1,
            MslClass::Remote => 2,
        }
    }
}

impl fmt::Display for MslClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MslClass::Loopback => "loopback",
            MslClass::Local => "local",
            MslClass::Remote => "remote",
        })
    }
}

/// The run-time tunables of one VTW table (one address family).
///
/// Defaults are NetBSD's, which give the mission's TIME_WAIT lengths: 2 s loopback,
/// 10 s local, 60 s remote. Guarantee: changing an MSL applies to entries already in the
/// table (their expiry is derived when checked, not stored), which keeps every class in
/// FIFO order; NetBSD instead fixed `expire` at insertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunables {
    /// `net.inet.tcp.vtw.enable` / `net.inet6.tcp6.vtw.enable` (bit 0): new entries are
    /// accepted only when set. Entries already present stay until they expire. Default on
    /// here (NetBSD: off), since the table exists only if the stack asked for one.
    pub vtw_enable: bool,
    /// `net.inet.tcp.mslt.enable`: MSL truncation. When off every connection gets the
    /// remote MSL, whatever class the caller passes. Default on.
    pub mslt_enable: bool,
    /// `net.inet.tcp.mslt.loopback` in ms. Default 1,000 (2 s of TIME_WAIT); 0 means
    /// NetBSD's fallback `TCPTV_MSL >> 2`.
    pub msl_loopback_ms: u64,
    /// `net.inet.tcp.mslt.local` in ms. Default 5,000 (10 s); 0 means `TCPTV_MSL >> 1`.
    pub msl_local_ms: u64,
    /// `net.inet.tcp.mslt.remote` in ms. Default 30,000 (60 s); 0 means `TCPTV_MSL`.
    pub msl_remote_ms: u64,
    /// `net.inet.tcp.mslt.remote_threshold` in ms: a smoothed RTT above this promotes a
    /// `Local` connection to `Remote` ([`Tunables::promote_by_rtt`]). Default 3,000
    /// (`TCPTV_SRTTDFLT`).
    pub msl_remote_threshold_ms: u64,
    /// ACK replies (out-of-window, PAWS, challenge) allowed per second per table; the
    /// rest are dropped and counted. NetBSD's `tcp_ackdrop_ppslim` default, 100.
    pub ack_ratelimit_pps: u32,
    /// What an insert does when its class ring is full of live entries. Default
    /// [`Overflow::EvictOldest`] (NetBSD VTW, FreeBSD `maxtcptw`).
    pub overflow: Overflow,
}

/// Policy for an insert into a class whose ring is full of live entries
/// (`timewait.md` §4.2 item 13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Evict the oldest entry of the class, counted in `VtwStats::evicted` (NetBSD
    /// `vtw_alloc` → `vtw_age(ctl, NULL)`, FreeBSD's LRU recycle).
    #[default]
    EvictOldest,
    /// Refuse the insert with `VtwError::ClassFull`, counted in
    /// `VtwStats::insert_class_full`; the caller keeps a full TIME_WAIT or skips it
    /// (Linux `tcp_max_tw_buckets`).
    Refuse,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            vtw_enable: true,
            mslt_enable: true,
            msl_loopback_ms: 1_000,
            msl_local_ms: 5_000,
            msl_remote_ms: TCPTV_MSL_MS,
            msl_remote_threshold_ms: 3_000,
            ack_ratelimit_pps: 100,
            overflow: Overflow::EvictOldest,
        }
    }
}

/// The sysctl names [`Tunables::sysctl_get`] and [`Tunables::sysctl_set`] know, with
/// `{af}` standing for `inet.tcp` (IPv4) or `inet6.tcp6` (IPv6) for the per-family knobs.
pub const SYSCTL_NAMES: [&str; 7] = [
    "net.{af}.vtw.enable",
    "net.{af}.vtw.entries",
    "net.inet.tcp.mslt.enable",
    "net.inet.tcp.mslt.loopback",
    "net.inet.tcp.mslt.local",
    "net.inet.tcp.mslt.remote",
    "net.inet.tcp.mslt.remote_threshold",
];

fn ticks_to_ms(t: u64) -> u64 {
    t.saturating_mul(1000) / PR_SLOWHZ
}

fn ms_to_ticks(ms: u64) -> u64 {
    ms * PR_SLOWHZ / 1000
}

impl Tunables {
    /// The MSL of `class` in ms (NetBSD `class_to_msl`), with the NetBSD fallbacks for 0.
    pub fn msl_ms(&self, class: MslClass) -> u64 {
        match class {
            MslClass::Loopback if self.msl_loopback_ms == 0 => TCPTV_MSL_MS >> 2,
            MslClass::Loopback => self.msl_loopback_ms,
            MslClass::Local if self.msl_local_ms == 0 => TCPTV_MSL_MS >> 1,
            MslClass::Local => self.msl_local_ms,
            MslClass::Remote if self.msl_remote_ms == 0 => TCPTV_MSL_MS,
            MslClass::Remote => self.msl_remote_ms,
        }
    }

    /// TIME_WAIT length for `class`: 2 × MSL, saturating.
    pub fn time_wait_ms(&self, class: MslClass) -> u64 {
        self.msl_ms(class).saturating_mul(2)
    }

    /// The class a new entry really gets: `class` when truncation is on, else `Remote`.
    pub fn effective_class(&self, class: MslClass) -> MslClass {
        if self.mslt_enable {
            class
        } else {
            MslClass::Remote
        }
    }

    /// NetBSD `tcp_xmit_timer` promotion: a `Local` connection whose smoothed RTT exceeds
    /// `msl_remote_threshold_ms` is treated as `Remote`. Other classes are returned as is.
    pub fn promote_by_rtt(&self, class: MslClass, srtt_ms: u64) -> MslClass {
        if class == MslClass::Local && srtt_ms > self.msl_remote_threshold_ms {
            MslClass::Remote
        } else {
            class
        }
    }

    /// Reads a sysctl by its NetBSD name, in NetBSD units (MSLs in slow ticks). `af` is
    /// `"inet.tcp"` or `"inet6.tcp6"`; `entries` is the table's fixed capacity.
    pub fn sysctl_get(&self, af: &str, entries: u64, name: &str) -> Result<u64, VtwError> {
        let per_af = name
            .strip_prefix("net.")
            .and_then(|r| r.strip_prefix(af))
            .and_then(|r| r.strip_prefix('.'));
        match (per_af, name) {
            (Some("vtw.enable"), _) => Ok(u64::from(self.vtw_enable)),
            (Some("vtw.entries"), _) => Ok(entries),
            (_, "net.inet.tcp.mslt.enable") => Ok(u64::from(self.mslt_enable)),
            (_, "net.inet.tcp.mslt.loopback") => Ok(ms_to_ticks(self.msl_loopback_ms)),
            (_, "net.inet.tcp.mslt.local") => Ok(ms_to_ticks(self.msl_local_ms)),
            (_, "net.inet.tcp.mslt.remote") => Ok(ms_to_ticks(self.msl_remote_ms)),
            (_, "net.inet.tcp.mslt.remote_threshold") => {
                Ok(ms_to_ticks(self.msl_remote_threshold_ms))
            }
            _ => Err(VtwError::UnknownSysctl(name.to_owned())),
        }
    }

    /// Sets a sysctl by its NetBSD name, in NetBSD units. `vtw.enable` takes bit 0 (other
    /// bits, NetBSD's debug bits, are rejected); `vtw.entries` is read-only, as in NetBSD;
    /// MSL values are slow ticks (0 selects NetBSD's fallback). On error nothing changes.
    pub fn sysctl_set(&mut self, af: &str, name: &str, value: u64) -> Result<(), VtwError> {
        let per_af = name
            .strip_prefix("net.")
            .and_then(|r| r.strip_prefix(af))
            .and_then(|r| r.strip_prefix('.'));
        let bool_value = |v: u64| -> Result<bool, VtwError> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(VtwError::BadSysctlValue {
                    name: name.to_owned(),
                    value,
                }),
            }
        };
        // Keep a 2×MSL in ms representable with a wide margin: at most ~24 days of ticks.
        let msl_value = |v: u64| -> Result<u64, VtwError> {
            if v > 4_000_000 {
                Err(VtwError::BadSysctlValue {
                    name: name.to_owned(),
                    value,
                })
            } else {
                Ok(ticks_to_ms(v))
            }
        };
        match (per_af, name) {
            (Some("vtw.enable"), _) => self.vtw_enable = bool_value(value)?,
            (Some("vtw.entries"), _) => return Err(VtwError::ReadOnlySysctl(name.to_owned())),
            (_, "net.inet.tcp.mslt.enable") => self.mslt_enable = bool_value(value)?,
            (_, "net.inet.tcp.mslt.loopback") => self.msl_loopback_ms = msl_value(value)?,
            (_, "net.inet.tcp.mslt.local") => self.msl_local_ms = msl_value(value)?,
            (_, "net.inet.tcp.mslt.remote") => self.msl_remote_ms = msl_value(value)?,
            (_, "net.inet.tcp.mslt.remote_threshold") => {
                self.msl_remote_threshold_ms = msl_value(value)?
            }
            _ => return Err(VtwError::UnknownSysctl(name.to_owned())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_2_10_60_seconds() {
        let t = Tunables::default();
        assert_eq!(t.time_wait_ms(MslClass::Loopback), 2_000);
        assert_eq!(t.time_wait_ms(MslClass::Local), 10_000);
        assert_eq!(t.time_wait_ms(MslClass::Remote), 60_000);
    }

    #[test]
    fn zero_falls_back_like_netbsd() {
        let t = Tunables {
            msl_loopback_ms: 0,
            msl_local_ms: 0,
            msl_remote_ms: 0,
            ..Tunables::default()
        };
        assert_eq!(t.msl_ms(MslClass::Loopback), 7_500);
        assert_eq!(t.msl_ms(MslClass::Local), 15_000);
        assert_eq!(t.msl_ms(MslClass::Remote), 30_000);
    }

    #[test]
    fn truncation_off_means_remote() {
        let mut t = Tunables::default();
        assert_eq!(t.effective_class(MslClass::Loopback), MslClass::Loopback);
        t.mslt_enable = false;
        for c in MslClass::ALL {
            assert_eq!(t.effective_class(c), MslClass::Remote);
        }
    }

    #[test]
    fn rtt_promotes_local_only() {
        let t = Tunables::default();
        assert_eq!(t.promote_by_rtt(MslClass::Local, 3_001), MslClass::Remote);
        assert_eq!(t.promote_by_rtt(MslClass::Local, 3_000), MslClass::Local);
        assert_eq!(
            t.promote_by_rtt(MslClass::Loopback, 9_000),
            MslClass::Loopback
        );
    }

    #[test]
    fn sysctl_by_name_in_netbsd_units() {
        let mut t = Tunables::default();
        assert_eq!(
            t.sysctl_get("inet.tcp", 16, "net.inet.tcp.mslt.loopback"),
            Ok(2)
        );
        assert_eq!(
            t.sysctl_get("inet.tcp", 16, "net.inet.tcp.mslt.remote"),
            Ok(60)
        );
        assert_eq!(
            t.sysctl_get("inet6.tcp6", 16, "net.inet6.tcp6.vtw.entries"),
            Ok(16)
        );
        t.sysctl_set("inet.tcp", "net.inet.tcp.mslt.local", 4)
            .unwrap();
        assert_eq!(t.msl_local_ms, 2_000);
        t.sysctl_set("inet6.tcp6", "net.inet6.tcp6.vtw.enable", 0)
            .unwrap();
        assert!(!t.vtw_enable);
    }

    #[test]
    fn sysctl_errors_change_nothing() {
        let mut t = Tunables::default();
        let before = t.clone();
        assert!(matches!(
            t.sysctl_set("inet.tcp", "net.inet.tcp.vtw.entries", 32),
            Err(VtwError::ReadOnlySysctl(_))
        ));
        assert!(matches!(
            t.sysctl_set("inet.tcp", "net.inet.tcp.vtw.enable", 17),
            Err(VtwError::BadSysctlValue { .. })
        ));
        assert!(matches!(
            t.sysctl_set("inet.tcp", "net.inet6.tcp6.vtw.enable", 1),
            Err(VtwError::UnknownSysctl(_))
        ));
        assert!(matches!(
            t.sysctl_set("inet.tcp", "net.inet.tcp.mslt.remote", u64::MAX),
            Err(VtwError::BadSysctlValue { .. })
        ));
        assert_eq!(t, before);
    }
}
