//! The address selection policy table of RFC 6724 §2.1: NetBSD's `addrsel_policytab`
//! with `lookup_addrsel_policy` (sys/netinet6/in6_src.c) and the `SIOCAADDRCTL_POLICY`
//! / `SIOCDADDRCTL_POLICY` updates behind ip6addrctl(8).
//!
//! Differences from NetBSD: the table starts as the RFC 6724 §2.1 default (NetBSD's is
//! empty until ip6addrctl fills it, so its rule 6 never applies by default); a table is
//! an immutable value, replaced as a whole at run time through a [`PolicyHolder`]
//! (NetBSD edits a TAILQ in place under a lock readers also take); IPv4 addresses are
//! looked up as IPv4-mapped addresses (`::ffff:a.b.c.d`), as RFC 6724 §6 requires.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::addr::{Ipv6Net, Prefix};

use super::SelectError;

/// The precedence and label an address gets from the policy table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Precedence: destination rule 6 prefers higher values.
    pub precedence: u8,
    /// Label: source rule 6 and destination rule 5 prefer equal labels.
    pub label: u8,
}

/// One row of the policy table: a prefix with its precedence and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyEntry {
    /// The prefix the row applies to (longest match wins).
    pub prefix: Ipv6Net,
    /// The precedence of addresses in the prefix.
    pub precedence: u8,
    /// The label of addresses in the prefix.
    pub label: u8,
}

impl PolicyEntry {
    /// The row `prefix` → (`precedence`, `label`); `prefix` is made canonical (host bits
    /// cleared), as ip6addrctl masks the prefix it is given.
    pub fn new(prefix: Ipv6Net, precedence: u8, label: u8) -> Self {
        Self {
            prefix: prefix.trunc(),
            precedence,
            label,
        }
    }

    fn parse(s: &str, precedence: u8, label: u8) -> Self {
        // Only used on the constant rows below, which are valid.
        let prefix = Ipv6Net::parse_strict(s).unwrap_or_default();
        Self::new(prefix, precedence, label)
    }
}

impl fmt::Display for PolicyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.prefix, self.precedence, self.label)
    }
}

/// An RFC 6724 policy table: rows kept longest prefix first, so a lookup is a linear
/// longest-prefix match (the table has about ten rows).
///
/// Guarantees: no two rows have the same prefix; [`lookup`](Self::lookup) returns the
/// row with the longest prefix containing the address, `None` if no row does (then
/// the label rules do not apply, NetBSD's `ADDR_LABEL_NOTAPP`). A table never changes;
/// run-time updates build a new one ([`with`](Self::with),
/// [`without`](Self::without)) and publish it through a [`PolicyHolder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTable {
    /// Sorted by prefix length, longest first; equal lengths keep insertion order.
    rows: Vec<PolicyEntry>,
    /// `rows` as (network, mask, policy) for a branch-light match.
    keys: Vec<(u128, u128, Policy)>,
}

impl Default for PolicyTable {
    /// The RFC 6724 §2.1 default table ([`rfc6724`](Self::rfc6724)).
    fn default() -> Self {
        Self::rfc6724()
    }
}

impl PolicyTable {
    /// The default policy table of RFC 6724 §2.1:
    ///
    /// | prefix | precedence | label |
    /// |---|---|---|
    /// | `::1/128` | 50 | 0 |
    /// | `::/0` | 40 | 1 |
    /// | `::ffff:0:0/96` | 35 | 4 |
    /// | `2002::/16` | 30 | 2 |
    /// | `2001::/32` | 5 | 5 |
    /// | `fc00::/7` | 3 | 13 |
    /// | `::/96` | 1 | 3 |
    /// | `fec0::/10` | 1 | 11 |
    /// | `3ffe::/16` | 1 | 12 |
    pub fn rfc6724() -> Self {
        let rows = [
            ("::1/128", 50, 0),
            ("::/0", 40, 1),
            ("::ffff:0:0/96", 35, 4),
            ("2002::/16", 30, 2),
            ("2001::/32", 5, 5),
            ("fc00::/7", 3, 13),
            ("::/96", 1, 3),
            ("fec0::/10", 1, 11),
            ("3ffe::/16", 1, 12),
        ];
        Self::from_sorted(
            rows.iter()
                .map(|&(p, prec, label)| PolicyEntry::parse(p, prec, label))
                .collect(),
        )
    }

    /// A table without rows: NetBSD's default before ip6addrctl runs. Every lookup
    /// answers `None`, so source rule 6 and destination rules 5 and 6 never decide.
    pub fn empty() -> Self {
        Self::from_sorted(Vec::new())
    }

    /// A table of `rows` (any order).
    ///
    /// Errors: [`SelectError::DuplicatePolicy`] if two rows have the same prefix
    /// (ip6addrctl's `EEXIST`).
    pub fn new(rows: impl IntoIterator<Item = PolicyEntry>) -> Result<Self, SelectError> {
        let mut t = Self::empty();
        for r in rows {
            t = t.with(r)?;
        }
        Ok(t)
    }

    fn from_sorted(mut rows: Vec<PolicyEntry>) -> Self {
        rows.sort_by_key(|r| std::cmp::Reverse(r.prefix.prefix_len()));
        let keys = rows
            .iter()
            .map(|r| {
                let mask = u128::from(r.prefix.netmask());
                let policy = Policy {
                    precedence: r.precedence,
                    label: r.label,
                };
                (u128::from(r.prefix.network()), mask, policy)
            })
            .collect();
        Self { rows, keys }
    }

    /// The rows, longest prefix first.
    pub fn entries(&self) -> &[PolicyEntry] {
        &self.rows
    }

    /// A copy of the table with `row` added (`SIOCAADDRCTL_POLICY`).
    ///
    /// Errors: [`SelectError::DuplicatePolicy`] if a row has the same prefix; nothing
    /// changes.
    pub fn with(&self, row: PolicyEntry) -> Result<Self, SelectError> {
        let row = PolicyEntry::new(row.prefix, row.precedence, row.label);
        if self.rows.iter().any(|r| r.prefix == row.prefix) {
            return Err(SelectError::DuplicatePolicy { prefix: row.prefix });
        }
        let mut rows = self.rows.clone();
        rows.push(row);
        Ok(Self::from_sorted(rows))
    }

    /// A copy of the table with the row for `prefix` replaced by `row`'s values, or
    /// added if there is none.
    pub fn with_replaced(&self, row: PolicyEntry) -> Self {
        let row = PolicyEntry::new(row.prefix, row.precedence, row.label);
        let mut rows: Vec<_> = self
            .rows
            .iter()
            .copied()
            .filter(|r| r.prefix != row.prefix)
            .collect();
        rows.push(row);
        Self::from_sorted(rows)
    }

    /// A copy of the table without the row for `prefix` (`SIOCDADDRCTL_POLICY`).
    ///
    /// Errors: [`SelectError::NoSuchPolicy`] if there is no such row (`ESRCH`).
    pub fn without(&self, prefix: Ipv6Net) -> Result<Self, SelectError> {
        let prefix = prefix.trunc();
        if !self.rows.iter().any(|r| r.prefix == prefix) {
            return Err(SelectError::NoSuchPolicy { prefix });
        }
        Ok(Self::from_sorted(
            self.rows
                .iter()
                .copied()
                .filter(|r| r.prefix != prefix)
                .collect(),
        ))
    }

    /// `lookup_addrsel_policy`: the policy of the longest row containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: &Ipv6Addr) -> Option<Policy> {
        let a = u128::from(*addr);
        self.keys
            .iter()
            .find(|&&(net, mask, _)| a & mask == net)
            .map(|&(_, _, p)| p)
    }

    /// The policy of an address of either family; IPv4 addresses are looked up as
    /// IPv4-mapped addresses (`::ffff:a.b.c.d`, RFC 6724 §6).
    pub fn lookup_ip(&self, addr: IpAddr) -> Option<Policy> {
        self.lookup(&as_v6(addr))
    }
}

/// `addr` as an IPv6 address: IPv4 addresses become IPv4-mapped (`::ffff:a.b.c.d`).
pub(crate) fn as_v6(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The holder of the stack's current policy table, replaceable at run time.
///
/// Guarantees: readers never block and never see a half-updated table: each
/// [`load`](Self::load) returns one complete table, which stays valid for as long as the
/// caller keeps the guard, even if a writer replaces it meanwhile (RCU through
/// `arc-swap`). Writers ([`store`](Self::store), [`update`](Self::update)) are
/// serialised among themselves by `update`'s compare-and-swap loop. The `Stack` owns one;
/// selection functions take the `&PolicyTable` a caller loaded once per call, so one
/// call sees one table.
#[derive(Debug)]
pub struct PolicyHolder {
    table: ArcSwap<PolicyTable>,
}

impl Default for PolicyHolder {
    /// A holder of the RFC 6724 default table.
    fn default() -> Self {
        Self::new(PolicyTable::rfc6724())
    }
}

/// A loaded policy table: derefs to [`PolicyTable`]; keeps that table alive.
pub struct PolicyGuard(arc_swap::Guard<Arc<PolicyTable>>);

impl std::ops::Deref for PolicyGuard {
    type Target = PolicyTable;
    fn deref(&self) -> &PolicyTable {
        &self.0
    }
}

impl fmt::Debug for PolicyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl PolicyHolder {
    /// A holder of `table`.
    pub fn new(table: PolicyTable) -> Self {
        Self {
            table: ArcSwap::from_pointee(table),
        }
    }

    /// The current table (a cheap, wait-free load).
    #[inline]
    pub fn load(&self) -> PolicyGuard {
        PolicyGuard(self.table.load())
    }

    /// Replaces the table; returns the previous one.
    pub fn store(&self, table: PolicyTable) -> Arc<PolicyTable> {
        self.table.swap(Arc::new(table))
    }

    /// Replaces the table by `f(current)`, retrying if another writer got in between;
    /// if `f` fails nothing changes and its error is returned.
    pub fn update(
        &self,
        mut f: impl FnMut(&PolicyTable) -> Result<PolicyTable, SelectError>,
    ) -> Result<(), SelectError> {
        loop {
            let cur = self.table.load_full();
            let new = Arc::new(f(&cur)?);
            let prev = self.table.compare_and_swap(&cur, new);
            if Arc::ptr_eq(&prev, &cur) {
                return Ok(());
            }
        }
    }
}
