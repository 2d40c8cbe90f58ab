//! Kernel code locations (`symbol+0xoffset`) from /proc/kallsyms.

/// Text symbols sorted by address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    syms: Vec<(u64, String)>,
}

impl Kallsyms {
    /// Reads /proc/kallsyms; empty when unreadable or when addresses are
    /// hidden (kptr_restrict shows them as zero to non-root).
    pub fn load() -> Kallsyms {
        match std::fs::read_to_string("/proc/kallsyms") {
            Ok(t) => Kallsyms::parse(&t),
            Err(_) => Kallsyms::default(),
        }
    }

    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let kind = it.next()?;
                let name = it.next()?;
                (addr != 0 && matches!(kind, "t" | "T")).then(|| (addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable();
        Kallsyms { syms }
    }

    /// `symbol+0xoff` of the symbol at or below `addr`.
    pub fn resolve(&self, addr: u64) -> Option<String> {
        if addr == 0 {
            return None;
        }
        let i = self.syms.partition_point(|(a, _)| *a <= addr);
        let (base, name) = self.syms.get(i.checked_sub(1)?)?;
        Some(format!("{name}+0x{:x}", addr - base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_offsets() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffff81000100 t foo\nffffffff81000200 D data\n\
             ffffffff81000300 T bar [mod]\n0000000000000000 T hidden\n",
        );
        assert_eq!(k.resolve(0xffffffff81000104).as_deref(), Some("foo+0x4"));
        assert_eq!(k.resolve(0xffffffff81000250).as_deref(), Some("foo+0x150"));
        assert_eq!(k.resolve(0xffffffff81000300).as_deref(), Some("bar+0x0"));
        assert_eq!(k.resolve(0x10), None);
        assert_eq!(k.resolve(0), None);
    }
}
