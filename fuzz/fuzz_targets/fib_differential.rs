//! FIB differential: random inserts, removes, batches, rebuilds and lookups on
//! `netroute::route::fib::Fib` (both key widths) against a naive model (a map of
//! prefixes; longest match by scan), with a `SharedFib` twin receiving the same ops (each
//! insert and remove as a batch of one, batches as one batch: the per-chunk batch patch
//! and the left-right catch-up by copy) and answering the same lookups. Invalid input
//! (length beyond the width, host bits set, batches containing one) must be refused and
//! change nothing.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netroute::psref::Domain;
use netroute::route::fib::{Fib, FibOp, Key, NextHop, SharedFib};

#[derive(Arbitrary, Debug)]
enum Op {
    Insert {
        sel: u8,
        bits: u128,
        len: u8,
        nh: u16,
        raw: bool,
    },
    Remove {
        sel: u8,
        bits: u128,
        len: u8,
        raw: bool,
    },
    Batch(Vec<(bool, u8, u128, u8, u16)>),
    Lookup {
        sel: u8,
        bits: u128,
    },
    /// A full recompile walks the whole 2^18-entry direct table: done rarely.
    Rebuild(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    v6: bool,
    ops: Vec<Op>,
}

trait K: Key {
    const W: u8;
    fn from_bits(b: u128) -> Self;
    fn to_bits(self) -> u128;
}
impl K for u32 {
    const W: u8 = 32;
    fn from_bits(b: u128) -> Self {
        b as u32
    }
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
}
impl K for u128 {
    const W: u8 = 128;
    fn from_bits(b: u128) -> Self {
        b
    }
    fn to_bits(self) -> u128 {
        self
    }
}

fn mask<T: K>(len: u8) -> u128 {
    let w = u32::from(T::W);
    let all = if w == 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    };
    let len = u32::from(len);
    if len == 0 {
        0
    } else if len >= w {
        all
    } else {
        all & !(all >> len)
    }
}

struct Model<T: K> {
    map: BTreeMap<(T, u8), NextHop>,
}

impl<T: K> Model<T> {
    /// An address near the model's prefixes most of the time, so that lookups and
    /// removes hit: `sel` picks a prefix, `bits` fill its host part.
    fn addr(&self, sel: u8, bits: u128) -> T {
        if sel < 192 && !self.map.is_empty() {
            let (&(a, l), _) = self
                .map
                .iter()
                .nth(usize::from(sel) % self.map.len())
                .unwrap();
            T::from_bits(a.to_bits() | (bits & !mask::<T>(l)))
        } else {
            T::from_bits(bits)
        }
    }

    fn lookup(&self, a: T) -> Option<NextHop> {
        self.map
            .iter()
            .filter(|((p, l), _)| a.to_bits() & mask::<T>(*l) == p.to_bits())
            .max_by_key(|((_, l), _)| *l)
            .map(|(_, nh)| *nh)
    }
}

fn nh(x: u16) -> NextHop {
    NextHop::new(u32::from(x % 1000) + 1).unwrap()
}

/// (address, length, valid) for an op's raw fields.
fn prefix<T: K>(m: &Model<T>, sel: u8, bits: u128, len: u8, raw: bool) -> (T, u8, bool) {
    // Mostly lengths of a quarter of the width and more: a short prefix recompiles up to
    // 2^18 direct-table chunks, which would make every run slow.
    let len = match (raw, len) {
        (true, l) => l,
        (false, l) if l < 4 => l % (T::W + 1),
        (false, l) => T::W / 4 + l % (T::W - T::W / 4 + 1),
    };
    let a = m.addr(sel, bits);
    if raw {
        let ok = len <= T::W && a.to_bits() & !mask::<T>(len.min(T::W)) == 0;
        (a, len, ok)
    } else {
        (T::from_bits(a.to_bits() & mask::<T>(len)), len, true)
    }
}

fn run<T: K>(ops: Vec<Op>) {
    let mut fib = Fib::<T>::new();
    let domain = Domain::fenced();
    let shared = SharedFib::<T>::new(&domain);
    let mut m = Model::<T> {
        map: BTreeMap::new(),
    };
    for op in ops.into_iter().take(256) {
        match op {
            Op::Insert {
                sel,
                bits,
                len,
                nh: n,
                raw,
            } => {
                let (a, l, ok) = prefix(&m, sel, bits, len, raw);
                let got = fib.insert(a, l, nh(n));
                let twin = shared.apply(&[FibOp::Insert { addr: a, len: l, nh: nh(n) }], &domain);
                assert_eq!(twin.is_ok(), ok);
                if ok {
                    assert_eq!(got.unwrap(), m.map.insert((a, l), nh(n)));
                } else {
                    assert!(got.is_err());
                }
            }
            Op::Remove {
                sel,
                bits,
                len,
                raw,
            } => {
                let (a, l, ok) = prefix(&m, sel, bits, len, raw);
                let got = fib.remove(a, l);
                let twin = shared.apply(&[FibOp::Remove { addr: a, len: l }], &domain);
                assert_eq!(twin.is_ok(), ok);
                if ok {
                    assert_eq!(got.unwrap(), m.map.remove(&(a, l)));
                } else {
                    assert!(got.is_err());
                }
            }
            Op::Batch(v) => {
                let mut fops = Vec::new();
                let mut all_ok = true;
                for (ins, sel, bits, len, n) in v.into_iter().take(64) {
                    let raw = n & 0x8000 != 0 && n & 0x7 == 0;
                    let (a, l, ok) = prefix(&m, sel, bits, len, raw);
                    all_ok &= ok;
                    fops.push(if ins {
                        FibOp::Insert {
                            addr: a,
                            len: l,
                            nh: nh(n),
                        }
                    } else {
                        FibOp::Remove { addr: a, len: l }
                    });
                }
                let got = fib.apply(&fops);
                assert_eq!(shared.apply(&fops, &domain).is_ok(), all_ok);
                if all_ok {
                    got.unwrap();
                    for op in fops {
                        match op {
                            FibOp::Insert { addr, len, nh } => {
                                m.map.insert((addr, len), nh);
                            }
                            FibOp::Remove { addr, len } => {
                                m.map.remove(&(addr, len));
                            }
                        }
                    }
                } else {
                    assert!(got.is_err(), "a batch with an invalid op must be refused");
                }
            }
            Op::Lookup { sel, bits } => {
                let a = m.addr(sel, bits);
                assert_eq!(fib.lookup(a), m.lookup(a), "lookup {a:?}");
                let mut out = [None; 2];
                fib.lookup_batch(&[a, T::from_bits(bits)], &mut out);
                assert_eq!(out, [m.lookup(a), m.lookup(T::from_bits(bits))]);
                let g = domain.read();
                assert_eq!(shared.load(&g).lookup(a), m.lookup(a), "shared lookup {a:?}");
            }
            Op::Rebuild(x) if x < 8 => {
                fib.rebuild();
                shared.rebuild(&domain);
            }
            Op::Rebuild(_) => {}
        }
        assert_eq!(fib.len(), m.map.len());
        assert_eq!(shared.len(), m.map.len());
    }
    // Both copies of the twin: the published one now, the spare after one more batch
    // (an insert and its removal of a prefix not in the model).
    let spare_probe = (T::from_bits(0), T::W);
    let fresh = !m.map.contains_key(&spare_probe);
    for round in 0..2 {
        if round == 1 && fresh {
            let (addr, len) = spare_probe;
            shared.apply(&[FibOp::Insert { addr, len, nh: nh(1) }, FibOp::Remove { addr, len }], &domain).unwrap();
        }
        let g = domain.read();
        let lpm = shared.load(&g);
        for &(a, l) in m.map.keys() {
            let last = T::from_bits(a.to_bits() | !mask::<T>(l) & mask::<T>(T::W));
            assert_eq!(lpm.lookup(a), m.lookup(a), "shared copy {round}: {a:?}");
            assert_eq!(lpm.lookup(last), m.lookup(last), "shared copy {round}: {last:?}");
        }
    }
    // The whole prefix set, every exact match, and a lookup at and inside every prefix.
    let got: Vec<_> = fib.iter().collect();
    let want: Vec<_> = m.map.iter().map(|(&(a, l), &n)| (a, l, n)).collect();
    assert_eq!(got, want);
    for (&(a, l), &n) in &m.map {
        assert_eq!(fib.get(a, l), Some(n));
        assert_eq!(fib.lookup(a), m.lookup(a));
        let last = T::from_bits(a.to_bits() | !mask::<T>(l) & mask::<T>(T::W));
        assert_eq!(fib.lookup(last), m.lookup(last));
    }
}

fuzz_target!(|input: Input| {
    if input.v6 {
        run::<u128>(input.ops);
    } else {
        run::<u32>(input.ops);
    }
});
