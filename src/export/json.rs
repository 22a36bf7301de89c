//! JSON (one array of objects) and NDJSON (one object a line). Keys are the column names,
//! NULL is `null`, reals keep their shortest round-trip form, instants are strings. One
//! dataset per output.

use std::io::{BufWriter, Write};

use super::{fmt_int, fmt_real, Column, Dataset, Error, Out, Sink, Value};

pub struct Json<'a> {
    out: BufWriter<Out<'a>>,
    /// NDJSON rather than an array.
    lines: bool,
    /// Each column's `"name":` prefix, escaped once.
    keys: Vec<String>,
    rows: u64,
    buf: String,
}

impl<'a> Json<'a> {
    pub fn new(out: Out<'a>, lines: bool) -> Json<'a> {
        Json {
            out: BufWriter::with_capacity(64 * 1024, out),
            lines,
            keys: Vec::new(),
            rows: 0,
            buf: String::with_capacity(256),
        }
    }
}

/// `s` as a JSON string literal.
fn quoted(out: &mut String, s: &str) {
    // serde_json escapes exactly what JSON requires; a String never fails to serialise.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

impl Sink for Json<'_> {
    fn begin(&mut self, _: &Dataset, columns: &[Column]) -> Result<(), Error> {
        self.keys = columns
            .iter()
            .map(|c| {
                let mut k = String::new();
                quoted(&mut k, &c.name);
                k.push(':');
                k
            })
            .collect();
        if !self.lines {
            self.out.write_all(b"[")?;
        }
        Ok(())
    }

    fn row(&mut self, values: &[Value<'_>]) -> Result<(), Error> {
        let b = &mut self.buf;
        b.clear();
        if !self.lines {
            b.push_str(if self.rows == 0 { "\n" } else { ",\n" });
        }
        b.push('{');
        for (i, (k, v)) in self.keys.iter().zip(values).enumerate() {
            if i > 0 {
                b.push(',');
            }
            b.push_str(k);
            match *v {
                Value::Null => b.push_str("null"),
                Value::Int(n) => fmt_int(b, n),
                Value::Real(r) => {
                    if fmt_real(b, r).is_none() {
                        b.push_str("null");
                    }
                }
                Value::Text(t) | Value::Date(t) | Value::Time(t) => quoted(b, t),
            }
        }
        b.push('}');
        if self.lines {
            b.push('\n');
        }
        self.rows += 1;
        self.out.write_all(b.as_bytes())?;
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        if !self.lines {
            self.out.write_all(b"\n]\n")?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }
}
