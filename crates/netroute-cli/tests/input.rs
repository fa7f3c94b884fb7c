//! The table readers on fixtures: text tables, update streams, gzip (detected by magic,
//! truncated), MRT TABLE_DUMP_V2 made with bgpkit-parser's encoder, and broken MRT files.

mod common;

use std::io::Write;

use bgpkit_parser::models::{BgpElem, NetworkPrefix};
use common::{fixture, tmp};
use netroute_cli::input::{self, Update};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A RIB dump of three prefixes from one peer (PEER_INDEX_TABLE + 3 RIB records).
fn mrt_bytes() -> Vec<u8> {
    let mut enc = bgpkit_parser::encoder::MrtRibEncoder::new();
    for (p, nh) in [
        ("192.0.2.0/24", "198.51.100.1"),
        ("203.0.113.0/24", "198.51.100.1"),
        ("2001:db8::/32", "2001:db8:ffff::1"),
    ] {
        let e = BgpElem {
            timestamp: 1_700_000_000.0,
            peer_ip: "198.51.100.1".parse().unwrap(),
            peer_asn: 64496.into(),
            prefix: NetworkPrefix::new(p.parse().unwrap(), None),
            next_hop: Some(nh.parse().unwrap()),
            ..BgpElem::default()
        };
        enc.process_elem(&e).unwrap();
    }
    enc.export_bytes().unwrap().to_vec()
}

#[test]
fn text_table_fixture() {
    let t = input::read_table(&fixture("table.txt")).unwrap();
    let got: Vec<String> = t
        .iter()
        .map(|e| match e.nexthop {
            Some(n) => format!("{} {n}", e.prefix),
            None => e.prefix.to_string(),
        })
        .collect();
    assert_eq!(
        got,
        [
            "192.0.2.0/24",
            "198.51.100.0/24 192.0.2.1",
            "2001:db8::/32",
            "203.0.113.0/24 2001:db8::1"
        ]
    );
}

#[test]
fn update_fixture() {
    let u = input::read_updates(&fixture("updates.txt")).unwrap();
    assert_eq!(
        u,
        [
            Update::Announce("192.0.2.0/24".parse().unwrap()),
            Update::Withdraw("198.51.100.0/24".parse().unwrap()),
            Update::Announce("2001:db8::/32".parse().unwrap()),
        ]
    );
}

#[test]
fn gzip_is_detected_by_magic_not_name() {
    let text = std::fs::read(fixture("table.txt")).unwrap();
    let p = tmp("table-without-gz-suffix.txt");
    std::fs::write(&p, gzip(&text)).unwrap();
    assert_eq!(input::read_table(&p).unwrap().len(), 4);
    // And a plain file named .gz is read as plain text.
    let p = tmp("plain.txt.gz");
    std::fs::write(&p, &text).unwrap();
    assert_eq!(input::read_table(&p).unwrap().len(), 4);
}

#[test]
fn truncated_gzip_is_an_error_with_file_and_line() {
    let mut text = String::new();
    for i in 0..5000u32 {
        text.push_str(&format!("10.{}.{}.0/24\n", i / 256, i % 256));
    }
    let gz = gzip(text.as_bytes());
    let p = tmp("truncated.gz");
    std::fs::write(&p, &gz[..gz.len() * 2 / 3]).unwrap();
    let e = input::read_table(&p).unwrap_err();
    assert_eq!(e.file, p.display().to_string());
    assert!(e.line.is_some_and(|l| l > 1), "{e}");
    assert!(e.msg.contains("truncated gzip"), "{e}");
}

#[test]
fn bad_prefix_and_bad_update_name_their_line() {
    let p = tmp("bad-table.txt");
    std::fs::write(&p, "# x\n192.0.2.0/24\n192.0.2.0\n").unwrap();
    let e = input::read_table(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: bad prefix \"192.0.2.0\": expected address/length (192.0.2.0/24, 2001:db8::/32)",
            p.display()
        )
    );
    let p = tmp("bad-updates.txt");
    std::fs::write(&p, "A 192.0.2.0/24\nA\n").unwrap();
    let e = input::read_updates(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2: \"A\": expected \"A prefix\" or \"W prefix\"",
            p.display()
        )
    );
}

#[test]
fn mrt_rib_dump_plain_and_gzip() {
    let mrt = mrt_bytes();
    assert!(input::looks_like_mrt(&mrt));
    for (name, data) in [("rib.mrt", mrt.clone()), ("rib.mrt.data", gzip(&mrt))] {
        let p = tmp(name);
        std::fs::write(&p, &data).unwrap();
        let mut t = input::read_table(&p).unwrap();
        t.sort_by_key(|e| e.prefix);
        let got: Vec<String> = t
            .iter()
            .map(|e| format!("{} {}", e.prefix, e.nexthop.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                "192.0.2.0/24 198.51.100.1",
                "203.0.113.0/24 198.51.100.1",
                "2001:db8::/32 2001:db8:ffff::1"
            ],
            "{name}"
        );
    }
}

#[test]
fn the_committed_mrt_fixture_reads() {
    // `rib-tiny.mrt` (218 bytes) is `mrt_bytes()` written once: a fixed file, so a change
    // in the encoder cannot hide a change in the reader.
    let t = input::read_table(&fixture("rib-tiny.mrt")).unwrap();
    assert_eq!(t.len(), 3);
    assert!(t.iter().any(|e| e.prefix.to_string() == "2001:db8::/32"));
}

#[test]
fn bad_mrt_files_are_errors_naming_the_record() {
    let mrt = mrt_bytes();
    // Truncated inside the last record.
    let p = tmp("truncated.mrt");
    std::fs::write(&p, &mrt[..mrt.len() - 5]).unwrap();
    let e = input::read_table(&p).unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.msg.starts_with("bad MRT record 4:"), "{e}");
    assert!(
        e.msg.contains("expected an RFC 6396 TABLE_DUMP_V2 record"),
        "{e}"
    );
    // A RIB record without the PEER_INDEX_TABLE before it.
    let first_len = u32::from_be_bytes(mrt[8..12].try_into().unwrap()) as usize + 12;
    let p = tmp("nopeers.mrt");
    std::fs::write(&p, &mrt[first_len..]).unwrap();
    let e = input::read_table(&p).unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    assert!(e.msg.contains("before the PEER_INDEX_TABLE"), "{e}");
    // Corrupted body bytes: an error or a parse, never a panic.
    for i in 12..mrt.len() {
        let mut m = mrt.clone();
        m[i] ^= 0xff;
        let _ = input::read_mrt(&m[..], "fuzz.mrt");
    }
}
