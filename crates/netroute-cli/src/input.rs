//! Table files for `bench --table` (stand-in until the shared readers land).
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;

use ipnet::IpNet;

/// Reads one prefix per line (`# comments`, an optional second column ignored), gzip
/// detected by its magic bytes. Errors name the file and line.
pub(crate) fn read_table_file(path: &Path) -> Result<Vec<IpNet>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        s
    } else {
        String::from_utf8(raw).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(p) = line.split_whitespace().next() else {
            continue;
        };
        let net: IpNet = p.parse().map_err(|_| {
            format!(
                "{}:{}: expected a prefix like 192.0.2.0/24, got {p:?}",
                path.display(),
                n + 1
            )
        })?;
        out.push(net.trunc());
    }
    Ok(out)
}
