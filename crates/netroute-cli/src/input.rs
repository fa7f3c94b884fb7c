//! Table inputs: text tables, update streams and MRT TABLE_DUMP_V2 RIB dumps, plain or
//! gzip-compressed.
//!
//! - **Text table**: one prefix per line, optionally followed by a next hop
//!   (`192.0.2.0/24 198.51.100.1`); blank lines and `#` comments (whole-line or trailing)
//!   are skipped. The format of the RIPE RIS files in `../shared/data/`.
//! - **Update stream**: `A prefix` (announce) or `W prefix` (withdraw) per line, same
//!   comments.
//! - **MRT**: TABLE_DUMP_V2 (RFC 6396) `PEER_INDEX_TABLE` + `RIB_IPV4_UNICAST` /
//!   `RIB_IPV6_UNICAST` records, parsed by `bgpkit-parser`; each prefix's next hop is that
//!   of its first RIB entry.
//!
//! Compression is detected from the first two bytes (gzip magic `1f 8b`), never from the
//! file name; MRT from the record header (a TABLE_DUMP_V2 type at bytes 4–5). Every error is
//! an [`InputError`] naming the file, the line (or MRT record) and what was expected; no
//! input makes these readers panic.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use bgpkit_parser::models::{MrtMessage, TableDumpV2Message};
use ipnet::IpNet;

/// Why an input could not be read: where (file, line or MRT record) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file, as given.
    pub file: String,
    /// The 1-based line (text) or record (MRT) number, when the error is at one.
    pub line: Option<u64>,
    /// What went wrong and what was expected.
    pub msg: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.msg),
            None => write!(f, "{}: {}", self.file, self.msg),
        }
    }
}

impl std::error::Error for InputError {}

impl InputError {
    fn new(file: &str, line: Option<u64>, msg: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            msg: msg.into(),
        }
    }
}

/// Opens `path` for buffered reading, decompressing gzip (detected by its magic bytes)
/// transparently. `-` is standard input.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, InputError> {
    let name = path.display().to_string();
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(
            File::open(path)
                .map_err(|e| InputError::new(&name, None, format!("cannot open: {e}")))?,
        )
    };
    decompress(raw, &name)
}

/// Wraps `raw` in a gzip decoder when it starts with the gzip magic bytes.
pub fn decompress(
    raw: Box<dyn Read + Send>,
    name: &str,
) -> Result<Box<dyn BufRead + Send>, InputError> {
    let mut r = BufReader::with_capacity(1 << 16, raw);
    let head = r
        .fill_buf()
        .map_err(|e| InputError::new(name, None, format!("cannot read: {e}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(r),
        )))
    } else {
        Ok(Box::new(r))
    }
}

/// One line of a text table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEntry {
    /// The prefix (host bits cleared).
    pub prefix: IpNet,
    /// The next hop, if the line has one.
    pub nexthop: Option<IpAddr>,
}

/// One line of an update stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// `A prefix`: announce.
    Announce(IpNet),
    /// `W prefix`: withdraw.
    Withdraw(IpNet),
}

/// Reads lines, counting them, stripping comments; errors name the file and line.
struct Lines<R> {
    reader: R,
    file: String,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R, file: &str) -> Self {
        Self {
            reader,
            file: file.to_owned(),
            line: 0,
            buf: Vec::with_capacity(128),
            done: false,
        }
    }

    /// The next non-empty, comment-stripped line with its number; `None` at the end.
    fn next_line(&mut self) -> Option<Result<(u64, &str), InputError>> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    let what = if e.kind() == io::ErrorKind::UnexpectedEof {
                        "compressed data ends early (truncated gzip file?)".to_owned()
                    } else {
                        format!("read error: {e}")
                    };
                    return Some(Err(InputError::new(&self.file, Some(self.line + 1), what)));
                }
            }
            self.line += 1;
            let Ok(s) = std::str::from_utf8(&self.buf) else {
                self.done = true;
                return Some(Err(InputError::new(
                    &self.file,
                    Some(self.line),
                    "not UTF-8 text (expected a text table; MRT files start with a TABLE_DUMP_V2 header)",
                )));
            };
            let content = s.split('#').next().unwrap_or("");
            let trimmed = content.trim();
            if trimmed.is_empty() {
                continue;
            }
            let start = content.len() - content.trim_start().len();
            let end = start + trimmed.len();
            let line = self.line;
            // The buffer was checked to be UTF-8 and the bounds are character boundaries.
            let text = std::str::from_utf8(&self.buf[start..end]).unwrap_or("");
            return Some(Ok((line, text)));
        }
    }

    fn err(&self, line: u64, msg: String) -> InputError {
        InputError::new(&self.file, Some(line), msg)
    }
}

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    if !s.contains('/') {
        return Err(format!(
            "bad prefix \"{s}\": expected address/length (192.0.2.0/24, 2001:db8::/32)"
        ));
    }
    s.parse::<IpNet>().map(|p| p.trunc()).map_err(|_| {
        format!("bad prefix \"{s}\": expected address/length (192.0.2.0/24, 2001:db8::/32)")
    })
}

/// Streams the entries of a text table.
pub struct TableReader<R> {
    lines: Lines<R>,
}

impl<R: BufRead> TableReader<R> {
    /// A reader over `reader`; `file` names it in errors.
    pub fn new(reader: R, file: &str) -> Self {
        Self {
            lines: Lines::new(reader, file),
        }
    }
}

impl<R: BufRead> Iterator for TableReader<R> {
    type Item = Result<TableEntry, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (n, text) = match self.lines.next_line()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let mut fields = text.split_ascii_whitespace();
        let p = fields.next().unwrap_or("");
        let nh = fields.next();
        let res = (|| {
            if fields.next().is_some() {
                return Err(format!(
                    "\"{text}\": expected \"prefix\" or \"prefix nexthop\""
                ));
            }
            let prefix = parse_prefix(p)?;
            let nexthop = match nh {
                None => None,
                Some(a) => {
                    let ip: IpAddr = a
                        .parse()
                        .map_err(|_| format!("bad next hop \"{a}\": expected an IP address"))?;
                    Some(ip)
                }
            };
            Ok(TableEntry { prefix, nexthop })
        })();
        Some(res.map_err(|m| self.lines.err(n, m)))
    }
}

/// Streams the operations of an update file.
pub struct UpdateReader<R> {
    lines: Lines<R>,
}

impl<R: BufRead> UpdateReader<R> {
    /// A reader over `reader`; `file` names it in errors.
    pub fn new(reader: R, file: &str) -> Self {
        Self {
            lines: Lines::new(reader, file),
        }
    }
}

impl<R: BufRead> Iterator for UpdateReader<R> {
    type Item = Result<Update, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (n, text) = match self.lines.next_line()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let mut fields = text.split_ascii_whitespace();
        let op = fields.next().unwrap_or("");
        let p = fields.next();
        let res = (|| {
            let (Some(p), None) = (p, fields.next()) else {
                return Err(format!("\"{text}\": expected \"A prefix\" or \"W prefix\""));
            };
            let prefix = parse_prefix(p)?;
            match op {
                "A" => Ok(Update::Announce(prefix)),
                "W" => Ok(Update::Withdraw(prefix)),
                _ => Err(format!(
                    "unknown operation \"{op}\": expected A (announce) or W (withdraw)"
                )),
            }
        })();
        Some(res.map_err(|m| self.lines.err(n, m)))
    }
}

/// True when `head` (the first decompressed bytes) looks like an MRT TABLE_DUMP_V2 record
/// header: MRT type 13 at bytes 4–5 and a non-text byte in the first four.
pub fn looks_like_mrt(head: &[u8]) -> bool {
    head.len() >= 12 && head[4..6] == [0, 13] && head[..4].iter().any(|b| !b.is_ascii_graphic())
}

/// Reads a table file of either format (text or MRT, plain or gzip) into memory.
pub fn read_table(path: &Path) -> Result<Vec<TableEntry>, InputError> {
    let name = path.display().to_string();
    let mut r = open(path)?;
    let head = r
        .fill_buf()
        .map_err(|e| InputError::new(&name, None, read_err(&e)))?;
    if looks_like_mrt(head) {
        read_mrt(r, &name)
    } else {
        TableReader::new(r, &name).collect()
    }
}

/// Reads an update file (plain or gzip) into memory.
pub fn read_updates(path: &Path) -> Result<Vec<Update>, InputError> {
    let name = path.display().to_string();
    UpdateReader::new(open(path)?, &name).collect()
}

fn read_err(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        "compressed data ends early (truncated gzip file?)".to_owned()
    } else {
        format!("read error: {e}")
    }
}

/// Reads the unicast RIB of an MRT TABLE_DUMP_V2 dump. Records of other types are
/// skipped; a RIB record before any PEER_INDEX_TABLE, a truncated or malformed record is
/// an error naming the record's number.
pub fn read_mrt(mut r: impl BufRead, name: &str) -> Result<Vec<TableEntry>, InputError> {
    let mut out = Vec::new();
    let mut record = 0u64;
    let mut peers = false;
    loop {
        let more = !r
            .fill_buf()
            .map_err(|e| InputError::new(name, Some(record + 1), read_err(&e)))?
            .is_empty();
        if !more {
            break;
        }
        record += 1;
        let rec = bgpkit_parser::parser::parse_mrt_record(&mut r).map_err(|e| {
            InputError::new(
                name,
                Some(record),
                format!(
                    "bad MRT record {record}: {} (expected an RFC 6396 TABLE_DUMP_V2 record)",
                    e.error
                ),
            )
        })?;
        match rec.message {
            MrtMessage::TableDumpV2Message(TableDumpV2Message::PeerIndexTable(_)) => peers = true,
            MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(rib)) => {
                if !peers {
                    return Err(InputError::new(
                        name,
                        Some(record),
                        "RIB record before the PEER_INDEX_TABLE (expected a PEER_INDEX_TABLE first)",
                    ));
                }
                let nexthop = rib
                    .rib_entries
                    .first()
                    .and_then(|e| e.attributes.next_hop());
                out.push(TableEntry {
                    prefix: rib.prefix.prefix.trunc(),
                    nexthop,
                });
            }
            _ => {}
        }
    }
    if record == 0 {
        return Err(InputError::new(name, None, "empty MRT file"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &[u8]) -> Result<Vec<TableEntry>, InputError> {
        TableReader::new(
            decompress(Box::new(io::Cursor::new(text.to_vec())), "t.txt").unwrap(),
            "t.txt",
        )
        .collect()
    }

    #[test]
    fn text_table_with_comments_and_next_hops() {
        let t = table(b"# RIS\n192.0.2.0/24\n\n198.51.100.0/24 192.0.2.1 # x\n2001:db8::/32\n")
            .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].nexthop, Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let e = table(b"192.0.2.0/24\n10.0.0.0/33\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.txt:2: bad prefix \"10.0.0.0/33\": expected address/length (192.0.2.0/24, 2001:db8::/32)"
        );
        let e = table(b"192.0.2.0/24 x y\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.txt:1: \"192.0.2.0/24 x y\": expected"),
            "{e}"
        );
        let e = table(b"\xff\xfe\n").unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[test]
    fn updates() {
        let u: Vec<_> = UpdateReader::new(&b"A 192.0.2.0/24\nW 2001:db8::/32\n"[..], "u")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(u[1], Update::Withdraw("2001:db8::/32".parse().unwrap()));
        let e = UpdateReader::new(&b"A 192.0.2.0/24\nX 192.0.2.0/24\n"[..], "u")
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.msg.contains("unknown operation \"X\""));
    }

    #[test]
    fn gzip_detected_by_magic_and_truncation_reported() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000u32 {
            writeln!(enc, "10.{}.{}.0/24", i / 256, i % 256).unwrap();
        }
        let gz = enc.finish().unwrap();
        assert_eq!(table(&gz).unwrap().len(), 2000);
        let e = table(&gz[..gz.len() / 2]).unwrap_err();
        assert!(e.msg.contains("truncated gzip"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in 0..300 {
            let mut v = Vec::new();
            for _ in 0..(n % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(b"0123456789./:abAW #\n\x1f\x8b\x00\x0d"[(x % 24) as usize]);
            }
            let _ = table(&v);
            let _ = read_mrt(&v[..], "m");
            let _ = UpdateReader::new(&v[..], "u").count();
        }
    }
}
