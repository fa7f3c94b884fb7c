//! What to do with a segment that hits a TIME_WAIT entry: a pure decision function
//! (NetBSD `tcp_vtw_input` in tcp_input.c, the TIME_WAIT part of `tcp_input`).
//!
//! [`decide`] reads the entry's state and the segment and returns an [`Action`]; it
//! changes nothing. [`super::VtwTable::process_segment`] applies the action to the table.
//! Rules, in order (each cites its source; the tests below quote the sentences):
//!
//! 1. RST (RFC 9293 §3.10.7.4 first and second steps; RFC 7323 §5.2: no PAWS on RST) —
//!    by [`RstPolicy`]. No rule ever answers an RST (RFC 9293 glossary: "In no case does
//!    receipt of a segment containing RST give rise to a RST in response"). In fact no
//!    action sends an RST at all.
//! 2. SYN without ACK — RFC 6191 §2 reopen rules (timestamps first, then sequence numbers),
//!    returning [`Action::Reopen`] with the ISS floor and ts_recent for the listener.
//! 3. RFC 7323 §3.2 (timestamps negotiated, segment without TSopt: silently drop) and PAWS
//!    (RFC 7323 §5.3 R1: TSval < TS.Recent: ACK and drop).
//! 4. A retransmitted FIN: ACK it and restart 2×MSL (RFC 9293 fifth and eighth steps).
//! 5. Sequence acceptability (RFC 9293 Table 6): unacceptable → ACK and drop.
//! 6. SYN with ACK (not a connection request): challenge ACK (RFC 5961 §4.2) or ACK.
//! 7. ACK bit off → drop; with RFC 5961, an ACK of unsent data → ACK and drop (§5.2).
//! 8. Acceptable FIN or data → ACK and restart ("Ignore the segment text"); a pure
//!    duplicate ACK → restart without a reply (Linux; FreeBSD does not reply either).
//!
//! Differences from NetBSD `tcp_vtw_input`, all deliberate (see `timewait.md` §3.4):
//! NetBSD answers a SYN beyond the window and any new data with an RST and never reopens;
//! it has no timestamp state, so no PAWS and ACKs without TSopt; its `rcv_wnd` is never
//! set by `vtw_add`. Here SYNs follow RFC 6191, data is ACKed and ignored, PAWS applies,
//! and the stored window is the one the connection last advertised.

/// TCP header flags relevant in TIME_WAIT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// The timestamps option of a segment (RFC 7323).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsOpt {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed timestamp.
    pub tsecr: u32,
}

/// An arriving segment, as far as TIME_WAIT cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Flags.
    pub flags: TcpFlags,
    /// SEG.SEQ.
    pub seq: u32,
    /// SEG.ACK (meaningful when the ACK flag is set).
    pub ack: u32,
    /// Payload bytes (not counting SYN or FIN).
    pub payload_len: u32,
    /// The timestamps option, if present.
    pub ts: Option<TsOpt>,
}

/// The state of a TIME_WAIT entry that the rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwState {
    /// SND.NXT: one past our FIN.
    pub snd_nxt: u32,
    /// RCV.NXT: one past the peer's FIN.
    pub rcv_nxt: u32,
    /// RCV.WND in bytes (already scaled).
    pub rcv_wnd: u32,
    /// TS.Recent, if timestamps were in use on the connection.
    pub ts_recent: Option<u32>,
}

/// How an RST aimed at a TIME_WAIT entry is treated (the RFC 1337 "assassination" hazard).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RstPolicy {
    /// RFC 1337 fix F1: "Ignore RST segments in TIME-WAIT state" (FreeBSD). The default:
    /// it avoids hazards H1–H3; the entry still expires on time.
    #[default]
    Rfc1337Ignore,
    /// Linux `tcp_rfc1337 = 0` and NetBSD VTW: an RST with SEG.SEQ == RCV.NXT deletes the
    /// entry; any other RST is dropped silently.
    ExactMatchKill,
    /// RFC 5961 §3.2 (also RFC 9293 second step): exact RCV.NXT deletes, in-window sends a
    /// challenge ACK, out-of-window drops. Also turns rejected SYNs (§4.2) into challenge
    /// ACKs and checks SEG.ACK (§5.2).
    Rfc5961,
}

/// Policy knobs of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPolicy {
    /// RST handling.
    pub rst: RstPolicy,
    /// Accept a new SYN as a reopen per RFC 6191 (RFC 9293 MAY-2, SHLD-4). Default on.
    pub syn_reopen: bool,
    /// The local stack would enable timestamps on a new connection (RFC 6191 "TS would be
    /// enabled for the new incarnation" when the SYN carries TSopt). Default on.
    pub timestamps: bool,
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        SegmentPolicy {
            rst: RstPolicy::default(),
            syn_reopen: true,
            timestamps: true,
        }
    }
}

/// What to do with the segment. Replies are `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` with the
/// stored window and, when timestamps were in use, TSopt (TSval = our clock + the entry's
/// offset, TSecr = TS.Recent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Discard the segment silently.
    Drop,
    /// Send an ACK (subject to the table's rate limit) and discard the segment.
    Ack,
    /// Send an RFC 5961 challenge ACK (rate-limited) and discard the segment.
    ChallengeAck,
    /// Send an ACK and restart the 2×MSL timer (retransmitted FIN, acceptable data/FIN).
    /// `ts_recent` is the new TS.Recent to store, if RFC 7323 §4.3 allows an update.
    AckAndRestart {
        /// New TS.Recent, if it is to be updated.
        ts_recent: Option<u32>,
    },
    /// Restart the 2×MSL timer without replying (pure duplicate ACK).
    Restart {
        /// New TS.Recent, if it is to be updated.
        ts_recent: Option<u32>,
    },
    /// Delete the entry (an accepted RST); no reply.
    Kill,
    /// Delete the entry and hand the SYN to a listener as a new connection, whose ISS must
    /// be after `iss_floor` (mod 2^32) and which may keep `ts_recent` for PAWS.
    Reopen {
        /// The new connection's ISS must be at or after this value (never 0).
        iss_floor: u32,
        /// TS.Recent of the old incarnation, if it used timestamps.
        ts_recent: Option<u32>,
    },
}

#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[inline]
fn seq_gt(a: u32, b: u32) -> bool {
    seq_lt(b, a)
}

#[inline]
fn seq_le(a: u32, b: u32) -> bool {
    !seq_gt(a, b)
}

/// `lo <= x < lo + wnd` in sequence space.
#[inline]
fn in_window(x: u32, lo: u32, wnd: u32) -> bool {
    x.wrapping_sub(lo) < wnd
}

/// RFC 9293 Table 6: is a segment of `seg_len` octets (SYN and FIN counted) at `seq`
/// acceptable for a receive window `[rcv_nxt, rcv_nxt + wnd)`?
fn acceptable(seq: u32, seg_len: u32, rcv_nxt: u32, wnd: u32) -> bool {
    match (seg_len, wnd) {
        (0, 0) => seq == rcv_nxt,
        (0, _) => in_window(seq, rcv_nxt, wnd),
        (_, 0) => false,
        (_, _) => {
            in_window(seq, rcv_nxt, wnd) || in_window(seq.wrapping_add(seg_len - 1), rcv_nxt, wnd)
        }
    }
}

/// The ISS floor handed to a reopened connection: SND.NXT + 2^16 + 1 (Linux
/// `tw_snd_nxt + 65535 + 2`), never 0.
pub fn iss_floor(snd_nxt: u32) -> u32 {
    match snd_nxt.wrapping_add(65_537) {
        0 => 1,
        x => x,
    }
}

/// RFC 7323 §4.3: TS.Recent takes SEG.TSval if `SEG.TSval >= TS.Recent` and
/// `SEG.SEQ <= Last.ACK.sent` (our RCV.NXT).
fn ts_update(tw: &TwState, seg: &Segment) -> Option<u32> {
    let t = seg.ts?;
    match tw.ts_recent {
        Some(r) if !seq_lt(t.tsval, r) && seq_le(seg.seq, tw.rcv_nxt) && t.tsval != r => {
            Some(t.tsval)
        }
        _ => None,
    }
}

/// Decides what to do with `seg`, which arrived for a TIME_WAIT entry in state `tw`.
/// Pure: same inputs, same answer; never panics.
pub fn decide(tw: &TwState, seg: &Segment, pol: &SegmentPolicy) -> Action {
    let f = seg.flags;
    // 1. RST. RFC 7323 §5.2: an RST "MUST NOT be subjected to the PAWS check".
    if f.rst {
        let exact = seg.seq == tw.rcv_nxt;
        let in_win = in_window(seg.seq, tw.rcv_nxt, tw.rcv_wnd.max(1));
        return match pol.rst {
            RstPolicy::Rfc1337Ignore => Action::Drop,
            RstPolicy::ExactMatchKill if exact => Action::Kill,
            RstPolicy::ExactMatchKill => Action::Drop,
            RstPolicy::Rfc5961 if exact => Action::Kill,
            RstPolicy::Rfc5961 if in_win => Action::ChallengeAck,
            RstPolicy::Rfc5961 => Action::Drop,
        };
    }
    let not_accepted_syn = if pol.rst == RstPolicy::Rfc5961 {
        Action::ChallengeAck
    } else {
        Action::Drop
    };
    // 2. A connection request: RFC 6191.
    if f.syn && !f.ack {
        if !pol.syn_reopen {
            return if pol.rst == RstPolicy::Rfc5961 {
                Action::ChallengeAck
            } else {
                Action::Ack
            };
        }
        let seq_higher = seq_gt(seg.seq, tw.rcv_nxt);
        let new_ts = if pol.timestamps { seg.ts } else { None };
        let honour = match (tw.ts_recent, new_ts) {
            (Some(r), Some(t)) => seq_gt(t.tsval, r) || (t.tsval == r && seq_higher),
            (Some(_), None) | (None, None) => seq_higher,
            (None, Some(_)) => true,
        };
        return if honour {
            Action::Reopen {
                iss_floor: iss_floor(tw.snd_nxt),
                ts_recent: tw.ts_recent,
            }
        } else {
            not_accepted_syn
        };
    }
    // 3. Timestamps.
    if let Some(r) = tw.ts_recent {
        match seg.ts {
            None => return Action::Drop,
            Some(t) if seq_lt(t.tsval, r) => return Action::Ack,
            Some(_) => {}
        }
    }
    // 4. Retransmitted FIN: it ends exactly at RCV.NXT.
    let seg_len = seg
        .payload_len
        .wrapping_add(u32::from(f.syn))
        .wrapping_add(u32::from(f.fin));
    if f.fin && !f.syn && seg.seq.wrapping_add(seg_len) == tw.rcv_nxt {
        return if f.ack {
            Action::AckAndRestart {
                ts_recent: ts_update(tw, seg),
            }
        } else {
            Action::Drop
        };
    }
    // 5. Acceptability.
    if !acceptable(seg.seq, seg_len, tw.rcv_nxt, tw.rcv_wnd) {
        return Action::Ack;
    }
    // 6. SYN in window (with ACK: not a connection request).
    if f.syn {
        return if pol.rst == RstPolicy::Rfc5961 {
            Action::ChallengeAck
        } else {
            Action::Ack
        };
    }
    // 7. ACK bit.
    if !f.ack {
        return Action::Drop;
    }
    if pol.rst == RstPolicy::Rfc5961 && seq_gt(seg.ack, tw.snd_nxt) {
        return Action::Ack;
    }
    // 8. FIN or data: ACK and restart; pure duplicate ACK: restart quietly.
    if f.fin || seg.payload_len > 0 {
        return Action::AckAndRestart {
            ts_recent: ts_update(tw, seg),
        };
    }
    if seg.seq == tw.rcv_nxt && seg.ack == tw.snd_nxt {
        return Action::Restart {
            ts_recent: ts_update(tw, seg),
        };
    }
    Action::Drop
}

#[cfg(test)]
mod tests {
    use super::*;

    const SND: u32 = 1_000;
    const RCV: u32 = 5_000;
    const WND: u32 = 8_192;
    const TSR: u32 = 777;

    fn tw(ts: bool) -> TwState {
        TwState {
            snd_nxt: SND,
            rcv_nxt: RCV,
            rcv_wnd: WND,
            ts_recent: ts.then_some(TSR),
        }
    }

    fn fl(s: &str) -> TcpFlags {
        TcpFlags {
            syn: s.contains('S'),
            ack: s.contains('A'),
            fin: s.contains('F'),
            rst: s.contains('R'),
        }
    }

    fn seg(flags: &str, seq: u32, ack: u32, len: u32, tsval: Option<u32>) -> Segment {
        Segment {
            flags: fl(flags),
            seq,
            ack,
            payload_len: len,
            ts: tsval.map(|tsval| TsOpt { tsval, tsecr: 0 }),
        }
    }

    fn pol(rst: RstPolicy) -> SegmentPolicy {
        SegmentPolicy {
            rst,
            ..SegmentPolicy::default()
        }
    }

    struct Case {
        cite: &'static str,
        ts_state: bool,
        pol: SegmentPolicy,
        seg: Segment,
        want: Action,
    }

    use RstPolicy::*;

    fn cases() -> Vec<Case> {
        let d = SegmentPolicy::default();
        vec![
            // ---- RST ----
            Case {
                cite: "RFC 1337 F1: \"Ignore RST segments in TIME-WAIT state.\"",
                ts_state: false,
                pol: pol(Rfc1337Ignore),
                seg: seg("R", RCV, 0, 0, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 second step (TIME-WAIT): \"If the RST bit is set, then enter the CLOSED state, delete the TCB, and return.\" (Linux tcp_rfc1337=0: exact seq only)",
                ts_state: false,
                pol: pol(ExactMatchKill),
                seg: seg("R", RCV, 0, 0, None),
                want: Action::Kill,
            },
            Case {
                cite: "Linux tcp_timewait_state_process: an RST whose seq != rcv_nxt is dropped silently",
                ts_state: false,
                pol: pol(ExactMatchKill),
                seg: seg("RA", RCV + 10, SND, 0, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 5961 §3.2: \"If the RST bit is set and the sequence number exactly matches the next expected sequence number (RCV.NXT), then TCP MUST reset the connection.\"",
                ts_state: true,
                pol: pol(Rfc5961),
                seg: seg("R", RCV, 0, 0, None),
                want: Action::Kill,
            },
            Case {
                cite: "RFC 5961 §3.2: \"If the RST bit is set and the sequence number does not exactly match the next expected sequence value, yet is within the current receive window, TCP MUST send an acknowledgment (challenge ACK)\"",
                ts_state: false,
                pol: pol(Rfc5961),
                seg: seg("R", RCV + 100, 0, 0, None),
                want: Action::ChallengeAck,
            },
            Case {
                cite: "RFC 5961 §3.2: \"If the RST bit is set and the sequence number is outside the current receive window, silently drop the segment.\"",
                ts_state: false,
                pol: pol(Rfc5961),
                seg: seg("R", RCV.wrapping_sub(1), 0, 0, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 7323 §5.2: an RST \"MUST NOT be subjected to the PAWS check\" (stale TSval still kills under exact match)",
                ts_state: true,
                pol: pol(ExactMatchKill),
                seg: seg("R", RCV, 0, 0, Some(TSR - 100)),
                want: Action::Kill,
            },
            Case {
                cite: "RFC 9293 glossary: \"In no case does receipt of a segment containing RST give rise to a RST in response.\" (out-of-window RST|ACK: drop)",
                ts_state: false,
                pol: pol(ExactMatchKill),
                seg: seg("RA", RCV + WND + 5, SND, 0, None),
                want: Action::Drop,
            },
            // ---- SYN: RFC 6191 ----
            Case {
                cite: "RFC 6191 §2: old incarnation used TS; honour the SYN if \"the TSval of the incoming SYN is greater than the last TSval seen\"",
                ts_state: true,
                pol: d,
                seg: seg("S", RCV - 500, 0, 0, Some(TSR + 1)),
                want: Action::Reopen {
                    iss_floor: SND + 65_537,
                    ts_recent: Some(TSR),
                },
            },
            Case {
                cite: "RFC 6191 §2: TSval equal and \"the sequence number of the incoming SYN is greater than the last sequence number seen\"",
                ts_state: true,
                pol: d,
                seg: seg("S", RCV + 1, 0, 0, Some(TSR)),
                want: Action::Reopen {
                    iss_floor: SND + 65_537,
                    ts_recent: Some(TSR),
                },
            },
            Case {
                cite: "RFC 6191 §2: \"Otherwise, silently drop the incoming SYN segment, thus leaving the previous incarnation of the connection in the TIME-WAIT state.\" (older TSval, higher seq)",
                ts_state: true,
                pol: d,
                seg: seg("S", RCV + 1000, 0, 0, Some(TSR - 1)),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 6191 §2: TS would not be enabled (SYN without TSopt): honour if the sequence number is greater than the last seen",
                ts_state: true,
                pol: d,
                seg: seg("S", RCV + 1, 0, 0, None),
                want: Action::Reopen {
                    iss_floor: SND + 65_537,
                    ts_recent: Some(TSR),
                },
            },
            Case {
                cite: "RFC 6191 §2: old incarnation without TS, new SYN with TS \"would be enabled\": honour",
                ts_state: false,
                pol: d,
                seg: seg("S", RCV - 10, 0, 0, Some(5)),
                want: Action::Reopen {
                    iss_floor: SND + 65_537,
                    ts_recent: None,
                },
            },
            Case {
                cite: "RFC 6191 §2 / RFC 9293 MAY-2: no TS anywhere, lower sequence number: silently drop",
                ts_state: false,
                pol: d,
                seg: seg("S", RCV - 10, 0, 0, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 fourth step with RFC 5961: \"If the SYN bit is set, irrespective of the sequence number, TCP endpoints MUST send a 'challenge ACK'\" (SYN not honoured)",
                ts_state: false,
                pol: pol(Rfc5961),
                seg: seg("S", RCV - 10, 0, 0, None),
                want: Action::ChallengeAck,
            },
            Case {
                cite: "RFC 5961 §4.2 (SYN with ACK is no connection request): challenge ACK",
                ts_state: false,
                pol: pol(Rfc5961),
                seg: seg("SA", RCV, SND, 0, None),
                want: Action::ChallengeAck,
            },
            // ---- Timestamps ----
            Case {
                cite: "RFC 7323 §3.2: \"If a non-<RST> segment is received without a TSopt, a TCP SHOULD silently drop the segment.\"",
                ts_state: true,
                pol: d,
                seg: seg("FA", RCV - 1, SND, 0, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 7323 §5.3 R1: \"SEG.TSval < TS.Recent ... then treat the arriving segment as not acceptable: Send an acknowledgment in reply\"",
                ts_state: true,
                pol: d,
                seg: seg("FA", RCV - 1, SND, 0, Some(TSR - 1)),
                want: Action::Ack,
            },
            // ---- FIN, ACK, data ----
            Case {
                cite: "RFC 9293 §3.10.7.4 fifth step: \"The only thing that can arrive in this state is a retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL timeout.\"",
                ts_state: false,
                pol: d,
                seg: seg("FA", RCV - 1, SND, 0, None),
                want: Action::AckAndRestart { ts_recent: None },
            },
            Case {
                cite: "RFC 7323 §4.3: TS.Recent updated when SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent (retransmitted FIN with a newer TSval)",
                ts_state: true,
                pol: d,
                seg: seg("FA", RCV - 1, SND, 0, Some(TSR + 9)),
                want: Action::AckAndRestart {
                    ts_recent: Some(TSR + 9),
                },
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 fifth step: \"if the ACK bit is off, drop the segment and return\" (FIN without ACK)",
                ts_state: false,
                pol: d,
                seg: seg("F", RCV - 1, 0, 0, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 first step: \"If an incoming segment is not acceptable, an acknowledgment should be sent in reply\" (old duplicate data)",
                ts_state: false,
                pol: d,
                seg: seg("A", RCV - 3000, SND, 100, None),
                want: Action::Ack,
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 first step: segment beyond the window is not acceptable: ACK",
                ts_state: false,
                pol: d,
                seg: seg("A", RCV + WND, SND, 10, None),
                want: Action::Ack,
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 seventh step (TIME-WAIT): \"Ignore the segment text.\"; fifth step: acknowledge and restart",
                ts_state: false,
                pol: d,
                seg: seg("A", RCV, SND, 100, None),
                want: Action::AckAndRestart { ts_recent: None },
            },
            Case {
                cite: "RFC 9293 §3.10.7.4 fifth step: \"if the ACK bit is off, drop the segment and return\" (in-window data without ACK)",
                ts_state: false,
                pol: d,
                seg: seg("", RCV, 0, 10, None),
                want: Action::Drop,
            },
            Case {
                cite: "RFC 5961 §5.2: an ACK of data not yet sent (SEG.ACK > SND.NXT): send an ACK and drop",
                ts_state: false,
                pol: pol(Rfc5961),
                seg: seg("A", RCV, SND + 5, 10, None),
                want: Action::Ack,
            },
            Case {
                cite: "Linux tcp_timewait_state_process: a bare ACK with seq == rcv_nxt restarts the timer and refreshes ts_recent, no reply",
                ts_state: true,
                pol: d,
                seg: seg("A", RCV, SND, 0, Some(TSR + 1)),
                want: Action::Restart {
                    ts_recent: Some(TSR + 1),
                },
            },
            Case {
                cite: "RFC 9293 Table 6: zero-length segment, seq in window, but an old ACK (ack != SND.NXT) is not a duplicate of anything we track: drop",
                ts_state: false,
                pol: d,
                seg: seg("A", RCV + 5, SND - 100, 0, None),
                want: Action::Drop,
            },
        ]
    }

    #[test]
    fn rule_table() {
        for c in cases() {
            let got = decide(&tw(c.ts_state), &c.seg, &c.pol);
            assert_eq!(got, c.want, "{}: {:?}", c.cite, c.seg);
        }
    }

    #[test]
    fn reopen_disabled_acks_or_challenges() {
        let p = SegmentPolicy {
            syn_reopen: false,
            ..SegmentPolicy::default()
        };
        let s = seg("S", RCV + 100, 0, 0, None);
        assert_eq!(decide(&tw(false), &s, &p), Action::Ack);
        let p5961 = SegmentPolicy { rst: Rfc5961, ..p };
        assert_eq!(decide(&tw(false), &s, &p5961), Action::ChallengeAck);
    }

    #[test]
    fn iss_floor_never_zero_and_wraps() {
        assert_eq!(iss_floor(u32::MAX - 65_536), 1);
        assert_eq!(iss_floor(u32::MAX), 65_536);
        assert_eq!(iss_floor(0), 65_537);
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        let t = TwState {
            snd_nxt: 10,
            rcv_nxt: u32::MAX - 1,
            rcv_wnd: 100,
            ts_recent: None,
        };
        // Retransmitted FIN just below the wrap.
        let fin = seg("FA", u32::MAX - 2, 10, 0, None);
        assert_eq!(
            decide(&t, &fin, &SegmentPolicy::default()),
            Action::AckAndRestart { ts_recent: None }
        );
        // Data that straddles 2^32 is in the window.
        let data = seg("A", u32::MAX, 10, 50, None);
        assert_eq!(
            decide(&t, &data, &SegmentPolicy::default()),
            Action::AckAndRestart { ts_recent: None }
        );
        // A SYN after the wrap is "higher".
        let syn = seg("S", 3, 0, 0, None);
        assert!(matches!(
            decide(&t, &syn, &SegmentPolicy::default()),
            Action::Reopen { .. }
        ));
    }

    #[test]
    fn never_an_rst_and_total_over_random_inputs() {
        // Exhaustive over flags, a few seq/ack/ts points: decide is total (no panic) and
        // an RST never produces a reply.
        let seqs = [0, RCV - 1, RCV, RCV + 1, RCV + WND, u32::MAX];
        let tss = [None, Some(0), Some(TSR), Some(TSR + 1), Some(u32::MAX)];
        for bits in 0..16u8 {
            let f = TcpFlags {
                syn: bits & 1 != 0,
                ack: bits & 2 != 0,
                fin: bits & 4 != 0,
                rst: bits & 8 != 0,
            };
            for &s in &seqs {
                for &a in &[SND, SND + 1, 0] {
                    for &ts in &tss {
                        for len in [0, 1, 100] {
                            for rst in [Rfc1337Ignore, ExactMatchKill, Rfc5961] {
                                for tsst in [false, true] {
                                    let sg = Segment {
                                        flags: f,
                                        seq: s,
                                        ack: a,
                                        payload_len: len,
                                        ts: ts.map(|tsval| TsOpt { tsval, tsecr: 0 }),
                                    };
                                    let act = decide(&tw(tsst), &sg, &pol(rst));
                                    if f.rst {
                                        assert!(
                                            matches!(
                                                act,
                                                Action::Drop | Action::Kill | Action::ChallengeAck
                                            ),
                                            "{sg:?} -> {act:?}"
                                        );
                                        if rst == Rfc1337Ignore {
                                            assert_eq!(act, Action::Drop);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
