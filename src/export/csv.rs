//! CSV per RFC 4180 through the `csv` crate: UTF-8, a header row of the column names (units
//! in them: `energy_wh`, `power_w`), CRLF-free `\n` records as the crate writes them, NULL
//! as an empty field, reals in their shortest round-trip form. One dataset per file.

use super::{fmt_int, fmt_real, Column, Dataset, Error, Out, Sink, Value};

pub struct Csv<'a> {
    out: csv::Writer<Out<'a>>,
    /// Reused for numbers, so a row allocates nothing.
    buf: String,
}

impl<'a> Csv<'a> {
    pub fn new(out: Out<'a>, delimiter: u8) -> Csv<'a> {
        let out = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .buffer_capacity(64 * 1024)
            .from_writer(out);
        Csv {
            out,
            buf: String::with_capacity(32),
        }
    }
}

fn csv_err(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => Error::Write(e),
        other => Error::Write(std::io::Error::other(format!("{other:?}"))),
    }
}

impl Sink for Csv<'_> {
    fn begin(&mut self, _: &Dataset, columns: &[Column]) -> Result<(), Error> {
        self.out
            .write_record(columns.iter().map(|c| c.name.as_str()))
            .map_err(csv_err)
    }

    fn row(&mut self, values: &[Value<'_>]) -> Result<(), Error> {
        for v in values {
            self.buf.clear();
            let field: &str = match *v {
                Value::Null => "",
                Value::Int(i) => {
                    fmt_int(&mut self.buf, i);
                    &self.buf
                }
                Value::Real(r) => match fmt_real(&mut self.buf, r) {
                    Some(()) => &self.buf,
                    None => "",
                },
                Value::Text(t) | Value::Date(t) | Value::Time(t) => t,
            };
            self.out.write_field(field).map_err(csv_err)?;
        }
        self.out.write_record(None::<&[u8]>).map_err(csv_err)
    }

    fn end(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }
}
