//! `GET /sites` (fleet site list, paged) and `GET /sites/{id}` (site details).
//!
//! The list comes in two shapes: `{"sites":{"count":N,"site":[...]}}` (2026) and a bare array
//! (2023 docs, Feb 2025). Whether `count` is the total or the page size is open (Q5), so
//! paging stops on a short page and `count` is ignored. Timestamps are kept as sent. Pure,
//! no IO.

use serde_json::{Map, Value};

use super::json::{from_body, object, opt_f64, opt_i64, opt_str};
use super::ParseError;
use crate::model::{Location, Site, SiteId};

/// Largest documented `sites-in-page`.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// What a 404 for the site list means: `/sites` exists on every V2 server (an unknown site
/// is a 403 or 404 below it, never the list itself), so the base URL points elsewhere.
pub fn list_not_found(base_url: &str) -> String {
    format!(
        "GET {base_url}{} answered 404 Not Found: [api] base_url does not point at the \
         Monitoring API V2 (normally https://monitoringapi.solaredge.com/v2)",
        list_path()
    )
}

/// `/sites`.
pub fn list_path() -> &'static str {
    "/sites"
}

/// `page` (1-based) and `sites-in-page`.
pub fn list_query(page: u32, page_size: u32) -> Vec<(&'static str, String)> {
    vec![
        ("page", page.max(1).to_string()),
        (
            "sites-in-page",
            page_size.clamp(1, MAX_PAGE_SIZE).to_string(),
        ),
    ]
}

/// True when a page with `page_len` sites was the last one.
pub fn is_last_page(page_len: usize, page_size: u32) -> bool {
    page_len < page_size as usize
}

/// Parses one page of the site list; returns the sites and the page length (the number of
/// entries in the page, for [`is_last_page`]).
pub fn parse_list(body: &str) -> Result<(Vec<Site>, usize), ParseError> {
    let v: Value = from_body("sites", body)?;
    let items: &[Value] = match &v {
        Value::Array(items) => items,
        Value::Object(o) => match o.get("sites") {
            Some(Value::Array(items)) => items,
            Some(Value::Object(inner)) => match inner.get("site") {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => &[],
                Some(_) => return Err(ParseError::new("sites.site: expected an array")),
            },
            Some(Value::Null) | None => return Err(ParseError::new("sites: missing site list")),
            Some(_) => return Err(ParseError::new("sites: expected an object or array")),
        },
        _ => return Err(ParseError::new("sites: expected an object or array")),
    };
    let sites = items
        .iter()
        .enumerate()
        .map(|(i, item)| site(&format!("sites[{i}]"), item, None))
        .collect::<Result<Vec<_>, _>>()?;
    let len = sites.len();
    Ok((sites, len))
}

/// `/sites/{id}`.
pub fn details_path(site_id: SiteId) -> String {
    format!("/sites/{site_id}")
}

/// Parses site details. A missing `siteId` falls back to the requested `site_id`.
pub fn parse_details(site_id: SiteId, body: &str) -> Result<Site, ParseError> {
    let v: Value = from_body("site", body)?;
    site("site", &v, Some(site_id))
}

fn site(ctx: &str, v: &Value, fallback_id: Option<SiteId>) -> Result<Site, ParseError> {
    let o = object(ctx, v)?;
    let site_id = opt_i64(ctx, o, "siteId")?
        .or(fallback_id)
        .ok_or_else(|| ParseError::new(format!("{ctx}.siteId: missing")))?;
    let location = match o.get("location") {
        None | Some(Value::Null) => Location::default(),
        Some(l) => location(&format!("{ctx}.location"), object(ctx, l)?)?,
    };
    Ok(Site {
        site_id,
        name: opt_str(ctx, o, "name")?,
        account_id: opt_i64(ctx, o, "accountId")?,
        peak_power_kw: opt_f64(ctx, o, "peakPower")?,
        installation_date: opt_str(ctx, o, "installationDate")?,
        last_update_time: opt_str(ctx, o, "lastUpdateTime")?,
        activation_status: opt_str(ctx, o, "activationStatus")?,
        note: opt_str(ctx, o, "note")?,
        location,
    })
}

fn location(ctx: &str, o: &Map<String, Value>) -> Result<Location, ParseError> {
    Ok(Location {
        address: opt_str(ctx, o, "address")?,
        city: opt_str(ctx, o, "city")?,
        state: opt_str(ctx, o, "state")?,
        zip: opt_str(ctx, o, "zip")?,
        country: opt_str(ctx, o, "country")?,
        timezone: opt_str(ctx, o, "timezone")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_list() {
        let body = r#"{"sites":{"count":2,"site":[
            {"siteId":101,"name":"Barn","peakPower":9.9,"activationStatus":"ACTIVE",
             "installationDate":"2020-05-01T00:00:00Z",
             "location":{"city":"Ulm","country":"Germany","timezone":"Europe/Berlin"},"extra":1},
            {"siteId":"102","name":null}]}}"#;
        let (sites, len) = parse_list(body).unwrap();
        assert_eq!(len, 2);
        assert_eq!(sites[0].site_id, 101);
        assert_eq!(sites[0].peak_power_kw, Some(9.9));
        assert_eq!(
            sites[0].installation_date.as_deref(),
            Some("2020-05-01T00:00:00Z")
        );
        assert_eq!(sites[0].location.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(sites[1].site_id, 102, "numeric string id");
        assert_eq!(sites[1].name, None);
        assert_eq!(sites[1].location, Location::default());
    }

    #[test]
    fn bare_array_list() {
        let body = r#"[{"siteId":7,"name":"Roof","note":"","location":{"zip":"80331"}}]"#;
        let (sites, len) = parse_list(body).unwrap();
        assert_eq!(len, 1);
        assert_eq!(sites[0].note.as_deref(), Some(""));
        assert_eq!(sites[0].location.zip.as_deref(), Some("80331"));
    }

    #[test]
    fn empty_lists() {
        for body in [
            "[]",
            r#"{"sites":{"count":0,"site":[]}}"#,
            r#"{"sites":{"count":0}}"#,
            r#"{"sites":[]}"#,
        ] {
            assert_eq!(parse_list(body).unwrap().1, 0, "{body}");
        }
    }

    #[test]
    fn paging_rule() {
        assert!(!is_last_page(1000, 1000));
        assert!(is_last_page(999, 1000));
        assert!(is_last_page(0, 1000));
        assert_eq!(
            list_query(0, 5000),
            [
                ("page", "1".to_string()),
                ("sites-in-page", "1000".to_string())
            ]
        );
    }

    #[test]
    fn details() {
        let body = r#"{"siteId":55,"name":"Home","accountId":42,"peakPower":7.6,
            "installationDate":"2021-04-01T00:00:00-05:00","lastUpdateTime":"2026-09-29T12:45:00-05:00",
            "location":{"address":"1 Main St","city":"Springfield","state":"IL","zip":"62701",
                        "country":"United States","timezone":"America/Chicago"},
            "activationStatus":"PENDING","ptoDate":"2021-05-01"}"#;
        let s = parse_details(55, body).unwrap();
        assert_eq!(s.account_id, Some(42));
        assert_eq!(
            s.last_update_time.as_deref(),
            Some("2026-09-29T12:45:00-05:00")
        );
        assert_eq!(s.activation_status.as_deref(), Some("PENDING"));
        assert_eq!(s.location.state.as_deref(), Some("IL"));
        assert_eq!(parse_details(56, r#"{"name":"x"}"#).unwrap().site_id, 56);
    }

    #[test]
    fn bad_bodies() {
        let cases = [
            ("", "sites: empty body"),
            ("{\"sites\":{\"site\":[", "sites: EOF"),
            ("{}", "sites: missing site list"),
            ("5", "sites: expected an object or array"),
            (r#"[{"name":"no id"}]"#, "sites[0].siteId: missing"),
            (
                r#"[{"siteId":true}]"#,
                "sites[0].siteId: expected an integer",
            ),
            (
                r#"[{"siteId":1,"location":"Ulm"}]"#,
                "sites[0]: expected an object",
            ),
        ];
        for (body, want) in cases {
            let err = parse_list(body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
        assert!(parse_details(1, "[]").is_err());
    }
}
