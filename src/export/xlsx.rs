//! XLSX through `rust_xlsxwriter` in constant-memory mode: one sheet per dataset, each row
//! flushed to a temporary file as soon as the next begins, so memory stays flat however
//! long the sheet. Instants are real date-times (the wall clock of the bucket, in local
//! time or UTC; the `utc_offset_min` column beside them keeps the offset), dates real dates,
//! numbers numbers, NULL an empty cell; the header row is bold and frozen. A dataset of
//! days or months gets a column chart of its energy.
//!
//! The workbook is assembled and written to the output only in [`Sink::finish`].

use rust_xlsxwriter::{Chart, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{Column, Dataset, Error, Kind, Out, Sink, Value};

/// Rows one sheet holds, header included (Excel's limit).
pub const MAX_ROWS: u32 = 1_048_576;

pub struct Xlsx<'a> {
    out: Option<Out<'a>>,
    book: Workbook,
    sheets: usize,
    /// The current sheet: its dataset, columns and next row.
    current: Option<(&'static str, Vec<Column>, u32, bool)>,
    header: Format,
    datetime: Format,
    date: Format,
}

fn xe(e: XlsxError) -> Error {
    match e {
        XlsxError::IoError(e) => Error::Write(e),
        e => Error::Xlsx(e.to_string()),
    }
}

impl<'a> Xlsx<'a> {
    pub fn new(out: Out<'a>) -> Xlsx<'a> {
        Xlsx {
            out: Some(out),
            book: Workbook::new(),
            sheets: 0,
            current: None,
            header: Format::new().set_bold(),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
        }
    }

    fn sheet(&mut self) -> Result<&mut Worksheet, Error> {
        self.book.worksheet_from_index(self.sheets - 1).map_err(xe)
    }
}

/// An Excel date-time of a wall-clock time.
fn excel_time(t: chrono::NaiveDateTime) -> Option<ExcelDateTime> {
    use chrono::{Datelike, Timelike};
    ExcelDateTime::from_ymd(
        u16::try_from(t.year()).ok()?,
        t.month() as u8,
        t.day() as u8,
    )
    .and_then(|d| d.and_hms(t.hour() as u16, t.minute() as u8, t.second()))
    .ok()
}

fn excel_date(s: &str) -> Option<ExcelDateTime> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    excel_time(d.and_hms_opt(0, 0, 0)?)
}

impl Sink for Xlsx<'_> {
    fn begin(&mut self, dataset: &Dataset, columns: &[Column]) -> Result<(), Error> {
        let header = self.header.clone();
        let ws = self.book.add_worksheet_with_constant_memory().map_err(xe)?;
        ws.set_name(dataset.name).map_err(xe)?;
        for (i, c) in columns.iter().enumerate() {
            let col = i as u16;
            ws.write_string_with_format(0, col, &c.name, &header)
                .map_err(xe)?;
            let width = match c.kind {
                Kind::Time => 17.0,
                Kind::Date => 11.0,
                _ => (c.name.len() as f64 + 2.0).max(9.0),
            };
            ws.set_column_width(col, width).map_err(xe)?;
        }
        ws.set_freeze_panes(1, 0).map_err(xe)?;
        self.sheets += 1;
        self.current = Some((dataset.name, columns.to_vec(), 1, dataset.chart));
        Ok(())
    }

    fn row(&mut self, values: &[Value<'_>]) -> Result<(), Error> {
        let (name, row) = match &self.current {
            Some((name, _, row, _)) => (*name, *row),
            None => return Ok(()),
        };
        if row >= MAX_ROWS {
            return Err(Error::SheetFull { dataset: name });
        }
        let (datetime, date) = (self.datetime.clone(), self.date.clone());
        let ws = self.sheet()?;
        for (i, v) in values.iter().enumerate() {
            let col = i as u16;
            match *v {
                Value::Null => continue,
                Value::Int(n) => ws.write_number(row, col, n as f64),
                Value::Real(r) if r.is_finite() => ws.write_number(row, col, r),
                Value::Real(_) => continue,
                Value::Text(t) => ws.write_string(row, col, t),
                Value::Time(t) => match super::time::wall(t).and_then(excel_time) {
                    Some(x) => ws.write_datetime_with_format(row, col, x, &datetime),
                    None => ws.write_string(row, col, t),
                },
                Value::Date(t) => match excel_date(t) {
                    Some(x) => ws.write_datetime_with_format(row, col, x, &date),
                    None => ws.write_string(row, col, t),
                },
            }
            .map_err(xe)?;
        }
        if let Some(c) = &mut self.current {
            c.2 += 1;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        let Some((name, columns, rows, chart)) = self.current.take() else {
            return Ok(());
        };
        let x = columns.iter().position(|c| c.kind == Kind::Time);
        let y = columns.iter().position(|c| c.name == "energy_wh");
        if let (true, Some(x), Some(y), true) = (chart, x, y, rows > 1) {
            let last = rows - 1;
            let mut c = Chart::new_column();
            c.title().set_name(&format!("{name} (Wh)"));
            c.add_series()
                .set_name(name)
                .set_categories((name, 1, x as u16, last, x as u16))
                .set_values((name, 1, y as u16, last, y as u16));
            c.set_width(720).set_height(360);
            let right = columns.len() as u16 + 1;
            self.sheet()?.insert_chart(1, right, &c).map_err(xe)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), Error> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        self.book.save_to_writer(out).map_err(xe)
    }
}
