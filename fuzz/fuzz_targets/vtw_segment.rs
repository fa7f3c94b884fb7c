//! TIME_WAIT segment decisions (`timewait::segment::decide`) against properties taken
//! from the RFCs rather than from the code (a reference written independently):
//!
//! * RFC 9293: no segment is ever answered with an RST (no action sends one); an RST
//!   only ever drops, kills (exact RCV.NXT, when the policy allows kills) or, under
//!   RFC 5961, challenges; RFC 1337 "ignore RST in TIME-WAIT" drops every RST.
//! * Kill happens only for an RST; Reopen only for a SYN without ACK or RST, when
//!   reopening is on, with a non-zero ISS floor of SND.NXT + 2^16 + 1 and the old
//!   TS.Recent (RFC 6191).
//! * RFC 7323: with timestamps in use a segment without TSopt is dropped; one failing
//!   PAWS never restarts the 2×MSL timer; TS.Recent is only ever updated to the
//!   segment's own TSval, forwards, and only when timestamps are in use.
//! * A restart (timer extended) needs the ACK bit; the decision is a pure function.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netroute::timewait::segment::{decide, iss_floor};
use netroute::timewait::{Action, RstPolicy, Segment, SegmentPolicy, TcpFlags, TsOpt, TwState};

#[derive(Arbitrary, Debug)]
struct Input {
    snd_nxt: u32,
    rcv_nxt: u32,
    rcv_wnd: u32,
    ts_recent: Option<u32>,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    /// Segment sequence number relative to RCV.NXT (small offsets are the interesting
    /// ones).
    seq_off: i16,
    far: Option<u32>,
    ack_off: i16,
    payload_len: u16,
    ts: Option<(i16, u32)>,
    rst_policy: u8,
    syn_reopen: bool,
    timestamps: bool,
}

fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fuzz_target!(|i: Input| {
    let tw = TwState {
        snd_nxt: i.snd_nxt,
        rcv_nxt: i.rcv_nxt,
        rcv_wnd: i.rcv_wnd % (1 << 24),
        ts_recent: i.ts_recent,
    };
    let seg = Segment {
        flags: TcpFlags {
            syn: i.syn,
            ack: i.ack,
            fin: i.fin,
            rst: i.rst,
        },
        seq: i
            .far
            .unwrap_or_else(|| i.rcv_nxt.wrapping_add(i.seq_off as i32 as u32)),
        ack: i.snd_nxt.wrapping_add(i.ack_off as i32 as u32),
        payload_len: u32::from(i.payload_len),
        // TSval relative to TS.Recent when there is one.
        ts: i.ts.map(|(off, ecr)| TsOpt {
            tsval: i.ts_recent.unwrap_or(0).wrapping_add(off as i32 as u32),
            tsecr: ecr,
        }),
    };
    let pol = SegmentPolicy {
        rst: match i.rst_policy % 3 {
            0 => RstPolicy::Rfc1337Ignore,
            1 => RstPolicy::ExactMatchKill,
            _ => RstPolicy::Rfc5961,
        },
        syn_reopen: i.syn_reopen,
        timestamps: i.timestamps,
    };
    let a = decide(&tw, &seg, &pol);
    assert_eq!(a, decide(&tw, &seg, &pol), "decide is pure");
    let f = seg.flags;
    let request = f.syn && !f.ack && !f.rst;

    // RSTs.
    if f.rst {
        match (a, pol.rst) {
            (Action::Drop, _) => {}
            (Action::Kill, RstPolicy::ExactMatchKill | RstPolicy::Rfc5961) => {
                assert_eq!(seg.seq, tw.rcv_nxt, "only an exact RST kills")
            }
            (Action::ChallengeAck, RstPolicy::Rfc5961) => {}
            _ => panic!("RST answered with {a:?} under {:?}", pol.rst),
        }
        if pol.rst == RstPolicy::Rfc1337Ignore {
            assert_eq!(a, Action::Drop, "RFC 1337: RSTs are ignored in TIME-WAIT");
        }
    }
    if a == Action::Kill {
        assert!(f.rst, "only an RST kills an entry");
    }
    // Reopen.
    if let Action::Reopen {
        iss_floor: floor,
        ts_recent,
    } = a
    {
        assert!(request && pol.syn_reopen, "reopen without a SYN: {seg:?}");
        assert_ne!(floor, 0);
        assert_eq!(floor, iss_floor(tw.snd_nxt));
        assert_eq!(
            floor,
            match tw.snd_nxt.wrapping_add(65_537) {
                0 => 1,
                x => x,
            }
        );
        assert_eq!(ts_recent, tw.ts_recent);
    }
    // A SYN that is a connection request with a newer timestamp (or, without
    // timestamps on either side, a higher sequence number) is honoured.
    if request && pol.syn_reopen {
        let newer_ts = match (tw.ts_recent, seg.ts) {
            (Some(r), Some(t)) if pol.timestamps => seq_lt(r, t.tsval),
            _ => false,
        };
        let no_ts = tw.ts_recent.is_none() && (seg.ts.is_none() || !pol.timestamps);
        if newer_ts || (no_ts && seq_lt(tw.rcv_nxt, seg.seq)) {
            assert!(
                matches!(a, Action::Reopen { .. }),
                "RFC 6191 SYN refused: {a:?}"
            );
        }
    }
    // Timestamps.
    if let Some(r) = tw.ts_recent
        && !f.rst
        && !request
    {
        match seg.ts {
            None => assert_eq!(a, Action::Drop, "RFC 7323 §3.2: no TSopt, drop"),
            Some(t) if seq_lt(t.tsval, r) => assert!(
                matches!(a, Action::Ack | Action::Drop),
                "PAWS failure must not restart: {a:?}"
            ),
            Some(_) => {}
        }
    }
    if let Action::Restart { ts_recent } | Action::AckAndRestart { ts_recent } = a {
        assert!(f.ack && !f.rst && !f.syn, "restart on {f:?}");
        if let Some(v) = ts_recent {
            let t = seg
                .ts
                .expect("TS.Recent updated from a segment without TSopt");
            assert_eq!(v, t.tsval);
            let r = tw
                .ts_recent
                .expect("TS.Recent updated without timestamps in use");
            assert!(
                seq_lt(r, v),
                "TS.Recent moved backwards or stayed: {r} -> {v}"
            );
        }
    }
});
