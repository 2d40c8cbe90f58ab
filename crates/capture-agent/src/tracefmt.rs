//! Tracepoint format files (`<tracefs>/events/<group>/<name>/format`): field
//! offsets and `__print_symbolic` value names, read at run time so both
//! follow the running kernel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `field:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u32,
    pub size: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Format {
    pub fields: BTreeMap<String, Field>,
    print_fmt: String,
}

impl Format {
    pub fn parse(text: &str) -> Format {
        let mut f = Format::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("print fmt:") {
                f.print_fmt = rest.trim().to_string();
                continue;
            }
            let Some(rest) = line.strip_prefix("field:") else {
                continue;
            };
            // field:<decl>;\toffset:N;\tsize:N;\tsigned:N;
            let mut parts = rest.split(';').map(str::trim);
            let decl = parts.next().unwrap_or("");
            let mut offset = None;
            let mut size = None;
            for p in parts {
                if let Some(v) = p.strip_prefix("offset:") {
                    offset = v.parse().ok();
                } else if let Some(v) = p.strip_prefix("size:") {
                    size = v.parse().ok();
                }
            }
            // The name is the last identifier of the declaration, before any [N].
            let name = decl
                .split('[')
                .next()
                .unwrap_or("")
                .rsplit(|c: char| c.is_whitespace() || c == '*')
                .next()
                .unwrap_or("");
            if let (false, Some(offset), Some(size)) = (name.is_empty(), offset, size) {
                f.fields.insert(name.to_string(), Field { offset, size });
            }
        }
        f
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.get(name)
    }

    /// The `{ N, "NAME" }` pairs of the `__print_symbolic(REC-><field>, ...)`
    /// in the print format. Entries whose value is not a number (unexpanded
    /// macros) are left out.
    pub fn symbols(&self, field: &str) -> BTreeMap<u32, String> {
        let mut out = BTreeMap::new();
        let needle = format!("__print_symbolic(REC->{field},");
        let Some(start) = self.print_fmt.find(&needle) else {
            return out;
        };
        let mut rest = &self.print_fmt[start + needle.len()..];
        // Walk "{ N, "NAME" }" groups until the closing parenthesis.
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some(body) = rest.strip_prefix('{') else {
                break;
            };
            let Some(end) = body.find('}') else {
                break;
            };
            let entry = &body[..end];
            rest = &body[end + 1..];
            let Some((num, name)) = entry.split_once(',') else {
                continue;
            };
            let name = name.trim().trim_matches('"');
            let num = num.trim();
            let value = if let Some(h) = num.strip_prefix("0x") {
                u32::from_str_radix(h, 16).ok()
            } else {
                num.parse().ok()
            };
            if let Some(v) = value {
                out.insert(v, name.to_string());
            }
        }
        out
    }
}

/// Where tracefs is mounted, mounting it at /sys/kernel/tracing when it is
/// not (e.g. inside `ip netns exec`, which mounts a fresh /sys).
pub fn tracefs() -> Result<PathBuf, String> {
    let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    let usable = |p: &str| Path::new(p).join("events").is_dir();
    if let Some(p) = candidates.iter().find(|p| usable(p)) {
        return Ok(PathBuf::from(p));
    }
    mount_tracefs("/sys/kernel/tracing")?;
    if usable(candidates[0]) {
        return Ok(PathBuf::from(candidates[0]));
    }
    Err("tracefs has no events directory after mounting it at /sys/kernel/tracing".into())
}

#[cfg(target_os = "linux")]
fn mount_tracefs(target: &str) -> Result<(), String> {
    use rustix::mount::{mount, MountFlags};
    mount(
        "tracefs",
        target,
        "tracefs",
        MountFlags::empty(),
        None::<&std::ffi::CStr>,
    )
    .map_err(|e| {
        format!(
            "tracefs is not mounted and mounting it at {target} failed: {} \
             (mount it: mount -t tracefs nodev {target})",
            std::io::Error::from(e)
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn mount_tracefs(_target: &str) -> Result<(), String> {
    Err("tracefs exists only on Linux".into())
}

/// Reads and parses `<tracefs>/events/<group>/<name>/format`.
pub fn read(tracefs: &Path, group: &str, name: &str) -> Result<Format, String> {
    let path = tracefs.join("events").join(group).join(name).join("format");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (the kernel has no tracepoint {group}/{name}?)",
            path.display()
        )
    })?;
    Ok(Format::parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KFREE: &str = r#"name: kfree_skb
ID: 2310
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:void * location;	offset:16;	size:8;	signed:0;
	field:void * rx_sk;	offset:24;	size:8;	signed:0;
	field:unsigned short protocol;	offset:32;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:36;	size:4;	signed:0;
	field:__u8 saddr_v6[16];	offset:42;	size:16;	signed:0;

print fmt: "skbaddr=%p reason: %s", REC->skbaddr, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 12, "NETFILTER_DROP" }, { TCP_X, "MACRO" }, { 0x80, "MAX" })
"#;

    #[test]
    fn fields_and_symbols() {
        let f = Format::parse(KFREE);
        assert_eq!(
            f.field("reason"),
            Some(&Field {
                offset: 36,
                size: 4
            })
        );
        assert_eq!(f.field("skbaddr"), Some(&Field { offset: 8, size: 8 }));
        assert_eq!(
            f.field("saddr_v6"),
            Some(&Field {
                offset: 42,
                size: 16
            })
        );
        assert_eq!(f.field("common_pid").unwrap().offset, 4);
        let s = f.symbols("reason");
        assert_eq!(s.get(&3).map(String::as_str), Some("NO_SOCKET"));
        assert_eq!(s.get(&12).map(String::as_str), Some("NETFILTER_DROP"));
        assert_eq!(s.get(&128).map(String::as_str), Some("MAX"));
        assert_eq!(s.len(), 4);
        assert!(f.symbols("family").is_empty());
    }

    #[test]
    fn running_kernel_names_when_readable() {
        // Only where tracefs is already mounted and readable (root).
        let p = Path::new("/sys/kernel/tracing/events/skb/kfree_skb/format");
        let Ok(text) = std::fs::read_to_string(p) else {
            return;
        };
        let f = Format::parse(&text);
        let s = f.symbols("reason");
        assert!(s.values().any(|n| n == "NETFILTER_DROP"), "{s:?}");
        assert!(s.values().any(|n| n == "NO_SOCKET"));
        assert!(f.field("reason").is_some());
    }
}
