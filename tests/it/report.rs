//! `seh report`: the HTML file for the default fleet, its figures against the database
//! and the simulator's truth, the page as headless Chromium renders it (DOM and a phone-
//! sized screenshot that must not be blank), and the refusals (existing file, unwritable
//! directory, missing database, bad dates, unknown site). The database is never written.

use crate::harness::*;
use crate::truth::close;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `data-NAME` value of the first element whose opening tag contains `anchor`.
fn attr(html: &str, anchor: &str, name: &str) -> Option<String> {
    let at = html.find(anchor)?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>')?];
    let key = format!("data-{name}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(v[..v.find('"')?].to_string())
}

fn num(html: &str, anchor: &str, name: &str) -> f64 {
    attr(html, anchor, name)
        .unwrap_or_else(|| panic!("no data-{name} at {anchor}"))
        .parse()
        .unwrap()
}

fn report(env: &TestEnv, name: &str, extra: &[&str]) -> (Out, PathBuf) {
    let path = env.path(name);
    let p = path.display().to_string();
    let mut args = vec!["report", "-o", p.as_str()];
    args.extend_from_slice(extra);
    (env.seh(&args), path)
}

/// The daily energy the simulator reports for `site`'s local `day`, in kWh.
fn truth_day_kwh(env: &TestEnv, site: i64, zone: &str, day: NaiveDate) -> f64 {
    let tz: Tz = zone.parse().unwrap();
    let start = |d: NaiveDate| {
        let t = tz
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap();
        t.to_rfc3339()
    };
    let rows = env.truth(
        site,
        "energy",
        Some("DAY"),
        Some(&start(day)),
        Some(&start(day.succ_opt().unwrap())),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0]["value"].as_f64().unwrap() / 1000.0
}

#[test]
fn the_report_shows_the_databases_figures_and_renders_in_chromium() {
    let env = TestEnv::new();
    env.sync_ok();
    let db_before = std::fs::read(&env.db).unwrap();
    let (out, path) = report(&env, "report.html", &[]);
    out.expect(0);
    assert!(out.stdout.starts_with("report: "), "{out}");
    assert_eq!(
        std::fs::read(&env.db).unwrap(),
        db_before,
        "the database was written"
    );
    let html = std::fs::read_to_string(&path).unwrap();
    for bad in ["<script", "src=", "href=", "url("] {
        assert!(!html.contains(bad), "not self-contained: {bad}");
    }
    let c = env.conn();
    let mut days_checked = 0;
    for (site, zone) in [
        (BERLIN, "Europe/Berlin"),
        (SYDNEY, "Australia/Sydney"),
        (DENVER, "America/Denver"),
    ] {
        let section = &html[html.find(&format!("id=\"site-{site}\"")).unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        // Lifetime: the database's figure, which is the simulator's total.
        let lifetime: f64 = c
            .query_row(
                "SELECT lifetime_energy_kwh FROM v_seh_site_summary WHERE site_id = ?1",
                [site],
                |r| r.get(0),
            )
            .unwrap();
        let shown = num(&html, &format!("id=\"lifetime-{site}\""), "kwh");
        assert_eq!(shown, lifetime, "site {site} lifetime");
        let total = env.truth(site, "energy", Some("TOTAL"), None, None);
        let truth_total = total[0]["value"].as_f64().unwrap() / 1000.0;
        assert!(close(shown, truth_total), "{shown} vs truth {truth_total}");
        // Every day in the table equals the daily view.
        let mut st = c
            .prepare(
                "SELECT local_date, energy_kwh FROM v_seh_daily_energy \
                 WHERE site_id = ?1 AND energy_kwh IS NOT NULL",
            )
            .unwrap();
        let days: Vec<(String, f64)> = st
            .query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let table = &html[html.find(&format!("id=\"days-{site}\"")).unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        for (date, kwh) in &days {
            let anchor = format!("data-date=\"{date}\"");
            if let Some(shown) = attr(table, &anchor, "kwh") {
                assert_eq!(shown.parse::<f64>().unwrap(), *kwh, "site {site} {date}");
                days_checked += 1;
            }
        }
        // Every month equals the monthly view (the report reads the same rule by the key).
        let mut st = c
            .prepare(
                "SELECT local_month, energy_kwh FROM v_seh_energy_monthly \
                 WHERE site_id = ?1 AND energy_kwh IS NOT NULL",
            )
            .unwrap();
        let months: Vec<(String, f64)> = st
            .query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(months.len() >= 2, "site {site}: {months:?}");
        for (month, kwh) in &months {
            let shown = num(section, &format!("data-month=\"{month}\""), "kwh");
            assert!(close(shown, *kwh), "site {site} {month}: {shown} vs {kwh}");
        }
        // The curve's day is complete (every quarter-hour stored) and its energy is the
        // simulator's.
        let curve_at = format!("id=\"curve-date-{site}\">");
        let at = html.find(&curve_at).unwrap() + curve_at.len();
        let day: NaiveDate = html[at..at + 10].parse().unwrap();
        let cov = format!("class=\"cov ok\" data-date=\"{day}\"");
        assert_eq!(num(section, &cov, "buckets"), 96.0, "site {site} {day}");
        let shown = num(table, &format!("data-date=\"{day}\""), "kwh");
        let truth = truth_day_kwh(&env, site, zone, day);
        assert!(close(shown, truth), "site {site} {day}: {shown} vs {truth}");
    }
    assert!(days_checked >= 9, "only {days_checked} days compared");
    // A battery's state of energy: the view's percentage at the curve day's last bucket.
    let key = attr(&html, "class=\"soe\"", "battery").expect("a battery in the default fleet");
    let pct = num(&html, "class=\"soe\"", "pct");
    let anchor = format!("id=\"curve-date-{BERLIN}\">");
    let at = html.find(&anchor).unwrap() + anchor.len();
    let day = &html[at..at + 10];
    let want: f64 = c
        .query_row(
            "SELECT state_of_energy_pct FROM v_seh_storage_15min WHERE site_id = ?1 \
             AND device_key = ?2 AND date(local_time) = ?3 \
             AND state_of_energy_pct IS NOT NULL ORDER BY ts_utc DESC LIMIT 1",
            rusqlite::params![BERLIN, key, day],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        close(pct, want) && (0.0..=100.0).contains(&pct),
        "{pct} vs {want}"
    );
    assert!(
        html.contains("class=\"meter\""),
        "meters of the default fleet"
    );

    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (.ci/run installs it)");
        return;
    };
    let dom = headless(&chromium, &env, &["--dump-dom"], &path);
    let dom = String::from_utf8(dom).unwrap();
    assert!(dom.contains("<svg"), "{}", &dom[..dom.len().min(500)]);
    for site in [BERLIN, SYDNEY, DENVER] {
        let anchor = format!("id=\"lifetime-{site}\"");
        assert_eq!(attr(&dom, &anchor, "kwh"), attr(&html, &anchor, "kwh"));
    }
    let png = env.path("report.png");
    let shot = format!("--screenshot={}", png.display());
    headless(&chromium, &env, &[&shot, "--window-size=412,2000"], &path);
    let image = decode_png(&std::fs::read(&png).unwrap());
    assert_eq!((image.width, image.height), (412, 2000));
    assert_not_blank(&image);
}

#[test]
fn the_report_refuses_what_it_must_not_do() {
    let env = TestEnv::new();
    // No database yet: nothing is created.
    let (out, path) = report(&env, "r.html", &[]);
    out.expect(4);
    assert!(out.stderr.contains("does not exist yet"), "{out}");
    assert!(!env.db.exists() && !path.exists());
    env.sync_ok();
    for (args, why) in [
        (
            &["--from", "2026-13-01"][..],
            "--from \"2026-13-01\" is not a date",
        ),
        (
            &["--to", "yesterday"][..],
            "--to \"yesterday\" is not a date",
        ),
        (
            &["--from", "2026-11-20", "--to", "2026-11-10"][..],
            "is after --to",
        ),
        (&["--site", "42"][..], "--site 42: no such site"),
    ] {
        let (out, path) = report(&env, "r.html", args);
        out.expect(2);
        assert!(out.stderr.contains(why), "{args:?}: {out}");
        assert!(!path.exists());
    }
    // An existing file stays as it is without --force, and is replaced with it.
    std::fs::write(&path, "mine").unwrap();
    let (out, _) = report(&env, "r.html", &[]);
    out.expect(2);
    assert!(out.stderr.contains("only with --force"), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    let (out, _) = report(&env, "r.html", &["--force", "--site", &BERLIN.to_string()]);
    out.expect(0);
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains(&format!("id=\"site-{BERLIN}\"")));
    assert!(!html.contains(&format!("id=\"site-{SYDNEY}\"")));
    // A directory that does not exist; no temporary file is left anywhere.
    let (out, _) = report(&env, "missing/r.html", &[]);
    out.expect(4);
    assert!(out.stderr.contains("cannot write report"), "{out}");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".seh-report"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ----- headless Chromium and the screenshot ----------------------------------------------

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .flat_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(move |dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args` (offline, no profile left behind) and
/// returns its stdout; fails after 90 s. Output goes to files: a DOM dump fills a pipe
/// nobody reads while waiting.
fn headless(chromium: &Path, env: &TestEnv, args: &[&str], page: &Path) -> Vec<u8> {
    let profile = tempfile::tempdir_in(env.dir.path()).unwrap();
    let stdout = env.path("chromium.out");
    let stderr = env.path("chromium.err");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "chromium failed: {err}");
    std::fs::read(&stdout).unwrap()
}

struct Image {
    width: usize,
    height: usize,
    /// RGB(A) rows, `channels` bytes per pixel.
    channels: usize,
    pixels: Vec<u8>,
}

/// Decodes an 8-bit RGB or RGBA PNG (what Chromium writes) with flate2 and the five PNG
/// row filters; enough for this test, so no image crate is needed.
fn decode_png(bytes: &[u8]) -> Image {
    use std::io::Read as _;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let (mut pos, mut idat) = (8, Vec::new());
    let (mut width, mut height, mut channels) = (0, 0, 0);
    while pos + 8 <= bytes.len() {
        let len = be(&bytes[pos..]);
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = be(data);
                height = be(&data[4..]);
                assert_eq!(data[8], 8, "bit depth");
                assert_eq!(data[12], 0, "interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1));
    let mut pixels = vec![0u8; height * stride];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(pred);
        }
    }
    Image {
        width,
        height,
        channels,
        pixels,
    }
}

/// A rendered report has text and charts: many pixels differ from the background (the
/// top-left pixel), in more than a few colours (the bars' orange among them).
fn assert_not_blank(image: &Image) {
    let px = |i: usize| &image.pixels[i * image.channels..i * image.channels + 3];
    let background = px(0).to_vec();
    let n = image.width * image.height;
    let differing = (0..n).filter(|&i| px(i) != &background[..]).count();
    let mut colours: Vec<&[u8]> = (0..n).map(px).collect();
    colours.sort_unstable();
    colours.dedup();
    let orange = (0..n).any(|i| {
        let p = px(i);
        p[0] > 200 && (120..200).contains(&p[1]) && p[2] < 80
    });
    assert!(
        differing * 100 > n && colours.len() > 20 && orange,
        "blank screenshot? {differing} of {n} pixels differ, {} colours, bar colour {orange}",
        colours.len()
    );
}
