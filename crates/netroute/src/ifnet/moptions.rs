//! Multicast socket options: `struct ip_moptions` (sys/netinet/ip_var.h) and
//! `struct ip6_moptions` (sys/netinet6/ip6_var.h), the outgoing-interface part.
//!
//! NetBSD's MP-safe versions store `imo_multicast_if_index` / `im6o_multicast_if_index`
//! instead of an `ifnet` pointer and call `if_get_byindex` on every use; so do we. We
//! also remember the interface's [attachment id](super::Ifnet::attach_id): NetBSD reuses
//! indices and so may send through a *new* interface that inherited the index, while
//! these options then report [`IfError::InterfaceGone`] (the caller decides what to do,
//! e.g. fall back to the routing table).

use psref::PsRef;

use crate::addr::IfIndex;

use super::{IfError, IfTable, Ifnet};

/// `IP_DEFAULT_MULTICAST_TTL` / `ip6_defmcasthlim`.
pub const DEFAULT_MULTICAST_HOPS: u8 = 1;

/// The outgoing-multicast options of a socket, for IPv4 (`ip_moptions`: TTL) and IPv6
/// (`ip6_moptions`: hop limit); the fields mean the same in both.
///
/// Guarantees: holds no reference to an interface, only its index and attachment id, so
/// it can live in a socket forever; [`interface`](Self::interface) resolves it on every
/// use and never yields a detached interface or one that reused the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastOptions {
    ifp: Option<(IfIndex, u64)>,
    /// TTL (IPv4) or hop limit (IPv6) of outgoing multicast (`imo_multicast_ttl`,
    /// `im6o_multicast_hlim`).
    pub hops: u8,
    /// Loop outgoing multicast back to local listeners (`imo_multicast_loop`,
    /// `im6o_multicast_loop`).
    pub loopback: bool,
}

impl Default for MulticastOptions {
    fn default() -> Self {
        Self {
            ifp: None,
            hops: DEFAULT_MULTICAST_HOPS,
            loopback: true,
        }
    }
}

impl MulticastOptions {
    /// No interface chosen, hop limit 1, loopback on (NetBSD's defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// `IP_MULTICAST_IF` / `IPV6_MULTICAST_IF`: chooses the outgoing interface.
    ///
    /// Errors: [`IfError::NoSuchIndex`] if no active interface has that index; the
    /// options are unchanged.
    pub fn set_interface(&mut self, table: &IfTable, index: IfIndex) -> Result<(), IfError> {
        let ifp = table
            .get_by_index(index)
            .ok_or(IfError::NoSuchIndex { index: index.get() })?;
        self.ifp = Some((index, ifp.attach_id()));
        Ok(())
    }

    /// Forgets the chosen interface (`IP_MULTICAST_IF` with `INADDR_ANY`).
    pub fn clear_interface(&mut self) {
        self.ifp = None;
    }

    /// The index chosen, if any (it may name a detached interface).
    pub fn index(&self) -> Option<IfIndex> {
        self.ifp.map(|(i, _)| i)
    }

    /// Resolves the chosen interface for one use: `Ok(None)` if none was chosen,
    /// `Ok(Some(ref))` if it is still attached, and [`IfError::InterfaceGone`] if it was
    /// detached (even if its index now names another interface).
    pub fn interface<'t>(&self, table: &'t IfTable) -> Result<Option<PsRef<'t, Ifnet>>, IfError> {
        let Some((index, attach_id)) = self.ifp else {
            return Ok(None);
        };
        let gone = IfError::InterfaceGone { index: index.get() };
        let ifp = table.get_by_index(index).ok_or(gone.clone())?;
        if ifp.attach_id() != attach_id {
            return Err(gone);
        }
        Ok(Some(ifp))
    }
}
