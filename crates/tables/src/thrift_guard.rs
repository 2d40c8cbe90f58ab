//! A bound on the Thrift structures of a Parquet file before the parquet
//! crate decodes them.
//!
//! The parquet crate (60.x) skips a list of booleans without consuming a
//! byte per element, as if each were a struct field's bool (which has no
//! data), so a footer or page header that claims a list of 2³¹ booleans
//! costs it seconds of CPU for a few bytes of input (a fuzzer found such a
//! 2 kB table: 6 s). In Thrift's compact protocol every list element takes
//! at least one byte, so a list, set or map that claims more elements than
//! bytes remain is damage. This walker checks exactly that, on the footer
//! and on every page header the footer's column chunks lead to, and says
//! where.

use bytes::Bytes;

/// Nesting deeper than this is damage (the parquet crate stops at 64 too).
const MAX_DEPTH: u32 = 64;

/// Walks one compact-protocol struct at `data[at..]`; returns its length.
/// With `want_field`, also the value of that top-level i32 field.
fn walk_struct(
    data: &[u8],
    at: usize,
    want_field: Option<i16>,
) -> Result<(usize, Option<i64>), String> {
    let mut w = Walker { data, pos: at };
    let found = w.structure(0, want_field)?;
    Ok((w.pos - at, found))
}

struct Walker<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| format!("Thrift structure runs past the end (byte {})", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("Thrift varint too long (byte {})", self.pos))
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        let end = (self.pos as u64)
            .checked_add(n)
            .filter(|&e| e <= self.data.len() as u64)
            .ok_or_else(|| format!("Thrift value runs past the end (byte {})", self.pos))?;
        self.pos = end as usize;
        Ok(())
    }

    /// The elements of a list, set or map: each takes a byte at least.
    fn count(&mut self, n: u64, per: u64) -> Result<(), String> {
        let left = (self.data.len() - self.pos) as u64;
        if n.saturating_mul(per) > left {
            return Err(format!(
                "a Thrift list at byte {} claims {n} elements with {left} bytes left",
                self.pos
            ));
        }
        Ok(())
    }

    fn value(&mut self, ty: u8, depth: u32, in_collection: bool) -> Result<Option<i64>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("Thrift nesting too deep (byte {})", self.pos));
        }
        match ty {
            // A struct field's bool is in its type; a collection's takes a byte.
            1 | 2 if !in_collection => {}
            1..=3 => self.skip(1)?,
            4..=6 => {
                let z = self.varint()?;
                return Ok(Some(((z >> 1) as i64) ^ -((z & 1) as i64)));
            }
            7 => self.skip(8)?,
            8 => {
                let n = self.varint()?;
                self.skip(n)?;
            }
            9 | 10 => {
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let elem = h & 0x0f;
                self.count(n, 1)?;
                for _ in 0..n {
                    self.value(elem, depth + 1, true)?;
                }
            }
            11 => {
                let n = self.varint()?;
                if n > 0 {
                    let kv = self.byte()?;
                    self.count(n, 2)?;
                    for _ in 0..n {
                        self.value(kv >> 4, depth + 1, true)?;
                        self.value(kv & 0x0f, depth + 1, true)?;
                    }
                }
            }
            12 => {
                self.structure(depth + 1, None)?;
            }
            13 => self.skip(16)?,
            t => return Err(format!("unknown Thrift type {t} at byte {}", self.pos)),
        }
        Ok(None)
    }

    fn structure(&mut self, depth: u32, want: Option<i16>) -> Result<Option<i64>, String> {
        let mut last: i16 = 0;
        let mut found = None;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Ok(found);
            }
            let ty = h & 0x0f;
            let id = match h >> 4 {
                0 => {
                    let z = self.varint()?;
                    (((z >> 1) as i64) ^ -((z & 1) as i64)) as i16
                }
                d => last.wrapping_add(i16::from(d)),
            };
            last = id;
            let v = self.value(ty, depth, false)?;
            if want == Some(id) && depth == 0 {
                found = v;
            }
        }
    }
}

/// Checks the footer of the Parquet file `data` and every page header its
/// column chunks lead to; `Err` names what is wrong. Only bounds are
/// checked here: whatever passes is left to the parquet crate.
pub fn check(data: &Bytes) -> Result<(), String> {
    let n = data.len();
    if n < 12 || &data[n - 4..] != b"PAR1" {
        return Ok(()); // not a Parquet file: the parquet crate says so
    }
    let footer_len =
        u32::from_le_bytes([data[n - 8], data[n - 7], data[n - 6], data[n - 5]]) as usize;
    let Some(start) = (n - 8).checked_sub(footer_len) else {
        return Ok(()); // the parquet crate reports the bad length
    };
    let footer = &data[start..n - 8];
    walk_struct(footer, 0, None).map_err(|e| format!("footer: {e}"))?;
    // The footer is sound enough to decode: find the column chunks' pages.
    let meta =
        parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&data.slice(start..n - 8))
            .map_err(|e| format!("footer: {e}"))?;
    for rg in meta.row_groups() {
        for col in rg.columns() {
            let first = col
                .dictionary_page_offset()
                .filter(|&d| d > 0)
                .unwrap_or(col.data_page_offset());
            let (Ok(first), Ok(len)) = (
                usize::try_from(first),
                usize::try_from(col.compressed_size()),
            ) else {
                continue; // negative: the parquet crate reports it
            };
            let end = first.saturating_add(len).min(start);
            let mut pos = first;
            while pos < end {
                // PageHeader field 3: compressed_page_size.
                let (hdr, size) = walk_struct(&data[..end], pos, Some(3))
                    .map_err(|e| format!("page header at byte {pos}: {e}"))?;
                let Some(size) = size.and_then(|s| usize::try_from(s).ok()) else {
                    break; // no or a negative page size: the parquet crate reports it
                };
                pos = pos.saturating_add(hdr).saturating_add(size);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_longer_than_the_bytes_left_is_damage() {
        // struct { 1: list<bool> of 2^31-1 elements } with 2 bytes left.
        let mut s = vec![0x19, 0xf1];
        s.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        s.extend_from_slice(&[1, 1, 0]);
        let e = walk_struct(&s, 0, None).unwrap_err();
        assert!(e.contains("claims 2147483647 elements"), "{e}");
        // The same list with its two elements is fine.
        let ok = [0x19, 0x21, 1, 1, 0];
        assert_eq!(walk_struct(&ok, 0, None).unwrap().0, 5);
    }

    #[test]
    fn struct_fields_and_the_wanted_i32() {
        // 1: i32 7 (zigzag 14), 3: i32 -2 (zigzag 3), 4: binary "ab", 5: bool true
        let s = [0x15, 14, 0x25, 3, 0x18, 2, b'a', b'b', 0x11, 0];
        let (len, v) = walk_struct(&s, 0, Some(3)).unwrap();
        assert_eq!((len, v), (s.len(), Some(-2)));
        assert!(walk_struct(&s[..5], 0, None).is_err(), "cut short");
    }

    #[test]
    fn a_written_table_passes_and_its_pages_are_walked() {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let n = 5000;
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        let strs: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("reason-{}", i % 7)),
        ));
        let batch = RecordBatch::try_from_iter([("n", ints), ("s", strs)]).unwrap();
        let mut buf = Vec::new();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .build();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let data = Bytes::from(buf);
        check(&data).unwrap();
        // A page header made to claim a huge list is caught.
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&data)
            .unwrap();
        let at = meta.row_group(0).column(0).data_page_offset() as usize;
        let mut bad = data.to_vec();
        // Overwrite the first page header with { 1: list<bool> of 2^31-1 }.
        let evil = [0x19u8, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 0];
        bad[at..at + evil.len()].copy_from_slice(&evil);
        let e = check(&Bytes::from(bad)).unwrap_err();
        assert!(
            e.contains("page header at byte") && e.contains("claims"),
            "{e}"
        );
    }
}
