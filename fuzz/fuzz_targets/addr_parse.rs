//! Address and prefix parsing (`ScopedAddr::parse`, `parse_prefix_strict`,
//! `parse_prefix_truncating`) on arbitrary text: never a panic; whatever parses prints
//! back to text that parses to the same value; strict parsing implies truncating
//! parsing with the same result; a truncated prefix is canonical; a scoped address has
//! a zone exactly when its scope needs one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netroute::addr::{
    ScopedAddr, ZoneId, ZoneResolver, parse_prefix_strict, parse_prefix_truncating,
};

struct Zones;

impl ZoneResolver for Zones {
    fn resolve_zone(&self, name: &str) -> Option<ZoneId> {
        match name {
            "lo0" => ZoneId::new(1),
            "eth0" => ZoneId::new(2),
            "eth1" => ZoneId::new(3),
            _ => None,
        }
    }
    fn knows_zone(&self, zone: ZoneId) -> bool {
        zone.get() <= 3
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = ScopedAddr::parse(s, &Zones) {
        let text = a.to_string();
        let b = ScopedAddr::parse(&text, &Zones)
            .unwrap_or_else(|e| panic!("{s:?} parsed to {a:?}, printed {text:?}: {e}"));
        assert_eq!(a, b, "{s:?} -> {text:?}");
        assert_eq!(ScopedAddr::new(a.addr(), a.zone()), Ok(a));
    }
    let strict = parse_prefix_strict(s);
    let trunc = parse_prefix_truncating(s);
    if let Ok(p) = &strict {
        assert_eq!(
            trunc.as_ref().ok(),
            Some(p),
            "strict {s:?} but not truncating"
        );
        assert_eq!(p.trunc(), *p, "strict gave a non-canonical prefix");
    }
    if let Ok(p) = &trunc {
        assert_eq!(
            p.trunc(),
            *p,
            "truncating gave a non-canonical prefix for {s:?}"
        );
        let text = p.to_string();
        assert_eq!(
            parse_prefix_strict(&text).as_ref().ok(),
            Some(p),
            "{s:?} -> {text:?}"
        );
    }
});
