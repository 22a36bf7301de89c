-- A family the API tier does not offer (power flow below Business Pro) is unavailable,
-- not failing: its cursor records the refusal (`extra.tier_denied`) and a last error, but
-- nothing is wrong that the user must fix. `unavailable` says so; `failing` leaves it out.
DROP VIEW v_seh_sync_status;
CREATE VIEW v_seh_sync_status AS
SELECT st.site_id,
       s.name AS site_name,
       st.family,
       st.resolution,
       st.covered_from,
       st.covered_to,
       st.last_success,
       st.last_error,
       st.last_error_at,
       st.rows_last_run,
       st.extra,
       (st.last_error_at IS NOT NULL
        AND (st.last_success IS NULL OR st.last_error_at > st.last_success)
        AND NOT (CASE WHEN json_valid(st.extra)
                      THEN json_extract(st.extra, '$.tier_denied') IS NOT NULL
                      ELSE 0 END)) AS failing,
       (CASE WHEN json_valid(st.extra)
             THEN json_extract(st.extra, '$.tier_denied') IS NOT NULL
             ELSE 0 END) AS unavailable
FROM seh_sync_state AS st
LEFT JOIN seh_sites AS s ON s.site_id = st.site_id;
