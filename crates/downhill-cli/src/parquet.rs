//! A minimal Parquet writer: one row group, required columns, PLAIN encoding, no compression.
//!
//! Enough for sweep results (integers, doubles, strings) to open in pandas, polars, DuckDB or Spark
//! without pulling the arrow/parquet crates (minutes of build time) into every CI run. The footer is
//! Thrift's compact protocol, written by hand below; `tests/cli.rs` reads the files back with pyarrow
//! when it is installed.

/// One column's values.
pub enum Column {
    /// 64-bit integers.
    Int64(Vec<i64>),
    /// 64-bit floats (missing values as NaN).
    Double(Vec<f64>),
    /// UTF-8 strings.
    Text(Vec<String>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Int64(v) => v.len(),
            Column::Double(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    /// Parquet physical type: INT64 = 2, DOUBLE = 5, BYTE_ARRAY = 6.
    fn physical(&self) -> i32 {
        match self {
            Column::Int64(_) => 2,
            Column::Double(_) => 5,
            Column::Text(_) => 6,
        }
    }

    fn plain(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Column::Int64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Column::Double(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Column::Text(v) => v.iter().for_each(|s| {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }),
        }
        out
    }
}

/// Thrift compact protocol, the subset Parquet's metadata needs.
struct Thrift {
    buf: Vec<u8>,
    last: Vec<i16>,
}

const I32: u8 = 5;
const I64: u8 = 6;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const STRUCT: u8 = 12;

impl Thrift {
    fn new() -> Thrift {
        Thrift { buf: Vec::new(), last: vec![0] }
    }
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(b);
                return;
            }
            self.buf.push(b | 0x80);
        }
    }
    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn field(&mut self, id: i16, kind: u8) {
        let last = *self.last.last().expect("inside a struct");
        let delta = id - last;
        if (1..=15).contains(&delta) {
            self.buf.push(((delta as u8) << 4) | kind);
        } else {
            self.buf.push(kind);
            self.zigzag(id as i64);
        }
        if let Some(l) = self.last.last_mut() {
            *l = id;
        }
    }
    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, I32);
        self.zigzag(v as i64);
    }
    fn i64(&mut self, id: i16, v: i64) {
        self.field(id, I64);
        self.zigzag(v);
    }
    fn string(&mut self, id: i16, s: &str) {
        self.field(id, BINARY);
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn list_header(&mut self, id: i16, kind: u8, n: usize) {
        self.field(id, LIST);
        if n < 15 {
            self.buf.push(((n as u8) << 4) | kind);
        } else {
            self.buf.push(0xf0 | kind);
            self.varint(n as u64);
        }
    }
    fn begin(&mut self, id: Option<i16>) {
        if let Some(id) = id {
            self.field(id, STRUCT);
        }
        self.last.push(0);
    }
    fn end(&mut self) {
        self.buf.push(0);
        self.last.pop();
    }
}

/// The bytes of a Parquet file holding `columns` (all of one length).
pub fn encode(columns: &[(String, Column)]) -> Vec<u8> {
    let rows = columns.first().map_or(0, |c| c.1.len());
    let mut file = b"PAR1".to_vec();
    let mut chunks = Vec::new(); // (offset, size)
    for (_, col) in columns {
        let data = col.plain();
        let mut h = Thrift::new();
        h.begin(None);
        h.i32(1, 0); // DATA_PAGE
        h.i32(2, data.len() as i32);
        h.i32(3, data.len() as i32);
        h.begin(Some(5)); // DataPageHeader
        h.i32(1, rows as i32);
        h.i32(2, 0); // PLAIN
        h.i32(3, 3); // RLE (no levels are written for required columns)
        h.i32(4, 3);
        h.end();
        h.end();
        let offset = file.len();
        file.extend_from_slice(&h.buf);
        file.extend_from_slice(&data);
        chunks.push((offset, file.len() - offset));
    }
    let mut m = Thrift::new();
    m.begin(None);
    m.i32(1, 1); // version
    m.list_header(2, STRUCT, columns.len() + 1);
    m.begin(None);
    m.string(4, "schema");
    m.i32(5, columns.len() as i32);
    m.end();
    for (name, col) in columns {
        m.begin(None);
        m.i32(1, col.physical());
        m.i32(3, 0); // REQUIRED
        m.string(4, name);
        if matches!(col, Column::Text(_)) {
            m.i32(6, 0); // converted type UTF8
        }
        m.end();
    }
    m.i64(3, rows as i64);
    m.list_header(4, STRUCT, 1);
    m.begin(None); // RowGroup
    m.list_header(1, STRUCT, columns.len());
    let mut total = 0i64;
    for ((name, col), (offset, size)) in columns.iter().zip(&chunks) {
        total += *size as i64;
        m.begin(None); // ColumnChunk
        m.i64(2, *offset as i64);
        m.begin(Some(3)); // ColumnMetaData
        m.i32(1, col.physical());
        m.list_header(2, I32, 1);
        m.zigzag(0); // PLAIN
        m.list_header(3, BINARY, 1);
        m.varint(name.len() as u64);
        m.buf.extend_from_slice(name.as_bytes());
        m.i32(4, 0); // UNCOMPRESSED
        m.i64(5, rows as i64);
        m.i64(6, *size as i64);
        m.i64(7, *size as i64);
        m.i64(9, *offset as i64);
        m.end();
        m.end();
    }
    m.i64(2, total);
    m.i64(3, rows as i64);
    m.end();
    m.string(6, "downhill");
    m.end();
    file.extend_from_slice(&m.buf);
    file.extend_from_slice(&(m.buf.len() as u32).to_le_bytes());
    file.extend_from_slice(b"PAR1");
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_protocol_basics() {
        let mut t = Thrift::new();
        t.zigzag(-1);
        t.zigzag(1);
        t.varint(300);
        assert_eq!(t.buf, vec![1, 2, 0xac, 0x02]);
        let bytes = encode(&[("a".into(), Column::Int64(vec![1, 2, 3]))]);
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
        let footer = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as usize;
        assert!(footer < bytes.len());
    }
}
