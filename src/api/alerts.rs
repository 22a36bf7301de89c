//! `GET /sites/{id}/alerts` and the fleet-wide `GET /alerts`.
//!
//! Both answer a bare array of alerts. The trigger times are UTC `Z` strings, kept as sent;
//! 2024-era code read `firstTriggered` instead of `firstTrigger`, so both spellings are
//! accepted. Each alert is also kept whole as `raw_json` (`errorCodes`, future fields).
//! Pure, no IO.

use serde_json::Value;

use super::json::{from_body, object, opt_i64, opt_str};
use super::ParseError;
use crate::model::{Alert, SiteId};

/// Largest documented `alerts-in-page`.
pub const MAX_PAGE_SIZE: u32 = 100;

/// `/sites/{id}/alerts`.
pub fn path(site_id: SiteId) -> String {
    format!("/sites/{site_id}/alerts")
}

/// `/alerts` (fleet key only).
pub fn fleet_path() -> &'static str {
    "/alerts"
}

/// `page` (1-based), `alerts-in-page`, and `only-open` when given.
pub fn query(page: u32, page_size: u32, only_open: Option<bool>) -> Vec<(&'static str, String)> {
    let mut q = vec![
        ("page", page.max(1).to_string()),
        (
            "alerts-in-page",
            page_size.clamp(1, MAX_PAGE_SIZE).to_string(),
        ),
    ];
    if let Some(open) = only_open {
        q.push(("only-open", open.to_string()));
    }
    q
}

/// True when a page with `page_len` alerts was the last one.
pub fn is_last_page(page_len: usize, page_size: u32) -> bool {
    page_len < page_size as usize
}

/// Parses an alert array. `site_id` is the site asked for (`None` for the fleet call); an
/// alert without its own `siteId` takes it, and a fleet alert without one is an error.
pub fn parse(site_id: Option<SiteId>, body: &str) -> Result<Vec<Alert>, ParseError> {
    let items: Vec<Value> = from_body("alerts", body)?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| alert(site_id, &format!("alerts[{i}]"), item))
        .collect()
}

fn alert(site_id: Option<SiteId>, ctx: &str, v: &Value) -> Result<Alert, ParseError> {
    let o = object(ctx, v)?;
    let alert_id = opt_i64(ctx, o, "alertId")?
        .ok_or_else(|| ParseError::new(format!("{ctx}.alertId: missing")))?;
    let site_id = opt_i64(ctx, o, "siteId")?
        .or(site_id)
        .ok_or_else(|| ParseError::new(format!("{ctx}.siteId: missing")))?;
    let (component_name, component_serial) = match o.get("component") {
        None | Some(Value::Null) => (None, None),
        Some(c) => {
            let cctx = format!("{ctx}.component");
            let c = object(&cctx, c)?;
            (
                opt_str(&cctx, c, "name")?,
                opt_str(&cctx, c, "serialNumber")?,
            )
        }
    };
    let first = match opt_str(ctx, o, "firstTrigger")? {
        Some(t) => Some(t),
        None => opt_str(ctx, o, "firstTriggered")?,
    };
    let last = match opt_str(ctx, o, "lastTrigger")? {
        Some(t) => Some(t),
        None => opt_str(ctx, o, "lastTriggered")?,
    };
    Ok(Alert {
        alert_id,
        site_id,
        alert_type: opt_str(ctx, o, "type")?,
        category: opt_str(ctx, o, "category")?,
        impact: opt_i64(ctx, o, "impact")?,
        status: opt_str(ctx, o, "status")?,
        first_trigger: first,
        last_trigger: last,
        component_name,
        component_serial,
        raw_json: v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_alerts_both_trigger_spellings() {
        let body = r#"[
          {"alertId":1,"siteId":8,"type":"SITE_COMMUNICATION_FAULT","category":"COMMUNICATION",
           "impact":3,"status":"OPEN","firstTrigger":"2026-09-01T10:00:00Z","lastTrigger":"2026-09-02T10:00:00Z",
           "component":{"name":"Inverter 1","serialNumber":"AB-1"},"errorCodes":[18,"x"]},
          {"alertId":"2","firstTriggered":"2024-03-03T03:03:03Z","lastTriggered":"2024-03-04T03:03:03Z","component":null}]"#;
        let a = parse(Some(8), body).unwrap();
        assert_eq!(a[0].alert_type.as_deref(), Some("SITE_COMMUNICATION_FAULT"));
        assert_eq!(a[0].impact, Some(3));
        assert_eq!(a[0].component_serial.as_deref(), Some("AB-1"));
        assert_eq!(a[0].first_trigger.as_deref(), Some("2026-09-01T10:00:00Z"));
        let raw: Value = serde_json::from_str(&a[0].raw_json).unwrap();
        assert_eq!(raw["errorCodes"][0], 18);
        assert_eq!(a[1].alert_id, 2);
        assert_eq!(a[1].site_id, 8, "site asked for");
        assert_eq!(a[1].first_trigger.as_deref(), Some("2024-03-03T03:03:03Z"));
        assert_eq!(a[1].last_trigger.as_deref(), Some("2024-03-04T03:03:03Z"));
        assert_eq!(a[1].component_name, None);
    }

    #[test]
    fn fleet_alerts_need_site_ids() {
        let ok = parse(None, r#"[{"alertId":5,"siteId":77}]"#).unwrap();
        assert_eq!(ok[0].site_id, 77);
        let err = parse(None, r#"[{"alertId":5}]"#).unwrap_err();
        assert_eq!(err.to_string(), "alerts[0].siteId: missing");
    }

    #[test]
    fn empty_and_bad() {
        assert!(parse(Some(1), "[]").unwrap().is_empty());
        let cases = [
            ("", "alerts: empty body"),
            ("[{", "alerts: EOF"),
            ("{\"alerts\":[]}", "alerts: invalid type"),
            (r#"[{"siteId":1}]"#, "alerts[0].alertId: missing"),
            (
                r#"[{"alertId":1,"component":"x"}]"#,
                "alerts[0].component: expected an object",
            ),
            (
                r#"[{"alertId":1,"impact":"high"}]"#,
                "alerts[0].impact: expected an integer",
            ),
        ];
        for (body, want) in cases {
            let err = parse(Some(1), body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
    }

    #[test]
    fn paths_and_query() {
        assert_eq!(path(3), "/sites/3/alerts");
        assert_eq!(fleet_path(), "/alerts");
        assert_eq!(
            query(2, 500, Some(false)),
            [
                ("page", "2".to_string()),
                ("alerts-in-page", "100".to_string()),
                ("only-open", "false".to_string()),
            ]
        );
        assert!(is_last_page(99, 100));
        assert!(!is_last_page(100, 100));
    }
}
