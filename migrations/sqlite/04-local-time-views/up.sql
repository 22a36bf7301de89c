-- Views people can graph without date arithmetic: site-local time beside UTC, telemetry
-- one column per metric, today's day and month marked partial, and the battery's state of
-- energy as a percentage whatever scale SolarEdge sent.
--
-- Local time comes in two forms: local_time ('YYYY-MM-DD HH:MM:SS', the wall clock, as in
-- v_seh_latest_power; twice the same text in the repeated autumn hour) and local_iso
-- (with the offset, '2026-10-25T02:45:00+02:00', unique per bucket).

-- Quarter-hour energy per site.
CREATE VIEW v_seh_energy_15min AS
SELECT site_id,
       ts_utc,
       datetime(ts_utc, utc_offset_min || ' minutes') AS local_time,
       strftime('%Y-%m-%dT%H:%M:%S', ts_utc, utc_offset_min || ' minutes')
         || (CASE WHEN utc_offset_min < 0 THEN '-' ELSE '+' END)
         || printf('%02d:%02d', abs(utc_offset_min) / 60, abs(utc_offset_min) % 60)
         AS local_iso,
       date(ts_utc, utc_offset_min || ' minutes') AS local_date,
       utc_offset_min,
       energy_wh
FROM seh_energy
WHERE resolution = 'QUARTER_HOUR';

-- Quarter-hour average power per site.
CREATE VIEW v_seh_power_15min AS
SELECT site_id,
       ts_utc,
       datetime(ts_utc, utc_offset_min || ' minutes') AS local_time,
       strftime('%Y-%m-%dT%H:%M:%S', ts_utc, utc_offset_min || ' minutes')
         || (CASE WHEN utc_offset_min < 0 THEN '-' ELSE '+' END)
         || printf('%02d:%02d', abs(utc_offset_min) / 60, abs(utc_offset_min) % 60)
         AS local_iso,
       date(ts_utc, utc_offset_min || ' minutes') AS local_date,
       utc_offset_min,
       power_w
FROM seh_power
WHERE resolution = 'QUARTER_HOUR';

-- Quarter-hour inverter telemetry, one row per inverter and bucket. Metrics outside these
-- columns stay in seh_inverter_telemetry.
CREATE VIEW v_seh_inverter_15min AS
SELECT site_id,
       device_key,
       ts_utc,
       datetime(ts_utc, utc_offset_min || ' minutes') AS local_time,
       utc_offset_min,
       MAX(CASE WHEN metric = 'power' THEN value END) AS power_w,
       MAX(CASE WHEN metric = 'energy' THEN value END) AS energy_wh,
       MAX(CASE WHEN metric = 'voltage' THEN value END) AS voltage_v,
       MAX(CASE WHEN metric = 'current' THEN value END) AS current_a,
       MAX(CASE WHEN metric = 'frequency' THEN value END) AS frequency_hz,
       MAX(CASE WHEN metric = 'consumedAcPower' THEN value END) AS consumed_ac_power_w,
       MAX(CASE WHEN metric = 'consumedAcEnergy' THEN value END) AS consumed_ac_energy_wh
FROM seh_inverter_telemetry
WHERE resolution = 'QUARTER_HOUR'
GROUP BY site_id, device_key, ts_utc;

-- Quarter-hour meter telemetry, one row per meter key and bucket.
CREATE VIEW v_seh_meter_15min AS
SELECT site_id,
       device_key,
       ts_utc,
       datetime(ts_utc, utc_offset_min || ' minutes') AS local_time,
       utc_offset_min,
       MAX(CASE WHEN metric = 'productionPower' THEN value END) AS production_power_w,
       MAX(CASE WHEN metric = 'productionEnergy' THEN value END) AS production_energy_wh,
       MAX(CASE WHEN metric = 'consumptionPower' THEN value END) AS consumption_power_w,
       MAX(CASE WHEN metric = 'consumptionEnergy' THEN value END) AS consumption_energy_wh,
       MAX(CASE WHEN metric = 'importPower' THEN value END) AS import_power_w,
       MAX(CASE WHEN metric = 'importEnergy' THEN value END) AS import_energy_wh,
       MAX(CASE WHEN metric = 'exportPower' THEN value END) AS export_power_w,
       MAX(CASE WHEN metric = 'exportEnergy' THEN value END) AS export_energy_wh
FROM seh_meter_telemetry
WHERE resolution = 'QUARTER_HOUR'
GROUP BY site_id, device_key, ts_utc;

-- stateOfEnergy in percent. SolarEdge documents 0-100 but live sites send fractions
-- (0-1) under the same unit PERCENTAGE; PERCENTAGE_100 is 0-100. A battery whose stored
-- PERCENTAGE values never exceed 1 is read as fractions and multiplied by 100.
CREATE VIEW v_seh_state_of_energy AS
WITH scale AS (
    SELECT site_id, device_key, unit, MAX(value) AS top
    FROM seh_storage_telemetry
    WHERE metric = 'stateOfEnergy'
    GROUP BY site_id, device_key, unit
)
SELECT t.site_id,
       t.device_key,
       t.resolution,
       t.ts_utc,
       t.utc_offset_min,
       t.value AS value_as_sent,
       t.unit,
       CASE WHEN t.value IS NULL THEN NULL
            WHEN upper(t.unit) = 'PERCENTAGE_100' THEN t.value
            WHEN s.top <= 1.0 THEN round(t.value * 100.0, 9)
            ELSE t.value END AS state_of_energy_pct
FROM seh_storage_telemetry AS t
JOIN scale AS s
  ON s.site_id = t.site_id AND s.device_key = t.device_key AND s.unit = t.unit
WHERE t.metric = 'stateOfEnergy';

-- Quarter-hour battery telemetry, one row per battery and bucket.
CREATE VIEW v_seh_storage_15min AS
SELECT t.site_id,
       t.device_key,
       t.ts_utc,
       datetime(t.ts_utc, t.utc_offset_min || ' minutes') AS local_time,
       t.utc_offset_min,
       MAX(CASE WHEN t.metric = 'chargePower' THEN t.value END) AS charge_power_w,
       MAX(CASE WHEN t.metric = 'dischargePower' THEN t.value END) AS discharge_power_w,
       MAX(CASE WHEN t.metric = 'chargeEnergy' THEN t.value END) AS charge_energy_wh,
       MAX(CASE WHEN t.metric = 'dischargeEnergy' THEN t.value END) AS discharge_energy_wh,
       MAX(CASE WHEN t.metric = 'remainingEnergy' THEN t.value END) AS remaining_energy_wh,
       (SELECT e.state_of_energy_pct FROM v_seh_state_of_energy AS e
        WHERE e.site_id = t.site_id AND e.device_key = t.device_key
          AND e.resolution = 'QUARTER_HOUR' AND e.ts_utc = t.ts_utc) AS state_of_energy_pct
FROM seh_storage_telemetry AS t
WHERE t.resolution = 'QUARTER_HOUR'
GROUP BY t.site_id, t.device_key, t.ts_utc;

-- The battery status gains the percentage (state_of_energy keeps the value as sent).
DROP VIEW v_seh_battery_status;
CREATE VIEW v_seh_battery_status AS
WITH batteries AS (
    SELECT DISTINCT site_id, device_key
    FROM seh_storage_telemetry
    WHERE resolution = 'QUARTER_HOUR'
)
SELECT b.site_id,
       b.device_key,
       (SELECT t.ts_utc FROM seh_storage_telemetry AS t
        WHERE t.site_id = b.site_id AND t.device_key = b.device_key AND t.resolution = 'QUARTER_HOUR'
          AND t.metric = 'stateOfEnergy' AND t.value IS NOT NULL
        ORDER BY t.ts_utc DESC LIMIT 1) AS state_of_energy_ts_utc,
       (SELECT t.value FROM seh_storage_telemetry AS t
        WHERE t.site_id = b.site_id AND t.device_key = b.device_key AND t.resolution = 'QUARTER_HOUR'
          AND t.metric = 'stateOfEnergy' AND t.value IS NOT NULL
        ORDER BY t.ts_utc DESC LIMIT 1) AS state_of_energy,
       (SELECT t.unit FROM seh_storage_telemetry AS t
        WHERE t.site_id = b.site_id AND t.device_key = b.device_key AND t.resolution = 'QUARTER_HOUR'
          AND t.metric = 'stateOfEnergy' AND t.value IS NOT NULL
        ORDER BY t.ts_utc DESC LIMIT 1) AS state_of_energy_unit,
       (SELECT t.value FROM seh_storage_telemetry AS t
        WHERE t.site_id = b.site_id AND t.device_key = b.device_key AND t.resolution = 'QUARTER_HOUR'
          AND t.metric = 'remainingEnergy' AND t.value IS NOT NULL
        ORDER BY t.ts_utc DESC LIMIT 1) AS remaining_energy_wh,
       (SELECT t.value FROM seh_storage_telemetry AS t
        WHERE t.site_id = b.site_id AND t.device_key = b.device_key AND t.resolution = 'QUARTER_HOUR'
          AND t.metric = 'chargePower' AND t.value IS NOT NULL
        ORDER BY t.ts_utc DESC LIMIT 1) AS charge_power_w,
       (SELECT t.value FROM seh_storage_telemetry AS t
        WHERE t.site_id = b.site_id AND t.device_key = b.device_key AND t.resolution = 'QUARTER_HOUR'
          AND t.metric = 'dischargePower' AND t.value IS NOT NULL
        ORDER BY t.ts_utc DESC LIMIT 1) AS discharge_power_w,
       (SELECT e.state_of_energy_pct FROM v_seh_state_of_energy AS e
        WHERE e.site_id = b.site_id AND e.device_key = b.device_key
          AND e.resolution = 'QUARTER_HOUR' AND e.state_of_energy_pct IS NOT NULL
        ORDER BY e.ts_utc DESC LIMIT 1) AS state_of_energy_pct
FROM batteries AS b;

-- Daily and monthly energy gain `partial`: 1 for the site's current local day (month),
-- whose value still grows, judged on the database host's clock ('now') and the offset the
-- newest row of the site carries.
DROP VIEW v_seh_energy_monthly;
DROP VIEW v_seh_daily_energy;
CREATE VIEW v_seh_daily_energy AS
WITH day_rows AS (
    SELECT site_id,
           date(ts_utc, utc_offset_min || ' minutes') AS local_date,
           energy_wh
    FROM seh_energy
    WHERE resolution = 'DAY' AND energy_wh IS NOT NULL
),
quarter_rows AS (
    SELECT site_id,
           date(ts_utc, utc_offset_min || ' minutes') AS local_date,
           SUM(energy_wh) AS energy_wh
    FROM seh_energy
    WHERE resolution = 'QUARTER_HOUR'
    GROUP BY site_id, local_date
),
today AS (
    SELECT e.site_id,
           date('now', COALESCE(
               (SELECT e2.utc_offset_min FROM seh_energy AS e2
                WHERE e2.site_id = e.site_id AND e2.resolution = 'QUARTER_HOUR'
                ORDER BY e2.ts_utc DESC LIMIT 1),
               (SELECT e2.utc_offset_min FROM seh_energy AS e2
                WHERE e2.site_id = e.site_id
                ORDER BY e2.ts_utc DESC LIMIT 1)) || ' minutes') AS local_date
    FROM (SELECT DISTINCT site_id FROM seh_energy) AS e
),
days AS (
    SELECT site_id, local_date, energy_wh / 1000.0 AS energy_kwh, 'DAY' AS source
    FROM day_rows
    UNION ALL
    SELECT q.site_id, q.local_date, q.energy_wh / 1000.0 AS energy_kwh, 'QUARTER_HOUR' AS source
    FROM quarter_rows AS q
    WHERE NOT EXISTS (SELECT 1 FROM day_rows AS d
                      WHERE d.site_id = q.site_id AND d.local_date = q.local_date)
)
SELECT d.site_id,
       d.local_date,
       d.energy_kwh,
       d.source,
       (t.local_date IS NULL OR d.local_date >= t.local_date) AS partial
FROM days AS d
LEFT JOIN today AS t ON t.site_id = d.site_id;

CREATE VIEW v_seh_energy_monthly AS
WITH month_rows AS (
    SELECT site_id,
           strftime('%Y-%m', ts_utc, utc_offset_min || ' minutes') AS local_month,
           energy_wh / 1000.0 AS energy_kwh
    FROM seh_energy
    WHERE resolution = 'MONTH' AND energy_wh IS NOT NULL
),
daily_rows AS (
    SELECT site_id,
           substr(local_date, 1, 7) AS local_month,
           SUM(energy_kwh) AS energy_kwh
    FROM v_seh_daily_energy
    GROUP BY site_id, local_month
),
today AS (
    SELECT e.site_id,
           date('now', COALESCE(
               (SELECT e2.utc_offset_min FROM seh_energy AS e2
                WHERE e2.site_id = e.site_id AND e2.resolution = 'QUARTER_HOUR'
                ORDER BY e2.ts_utc DESC LIMIT 1),
               (SELECT e2.utc_offset_min FROM seh_energy AS e2
                WHERE e2.site_id = e.site_id
                ORDER BY e2.ts_utc DESC LIMIT 1)) || ' minutes') AS local_date
    FROM (SELECT DISTINCT site_id FROM seh_energy) AS e
),
months AS (
    SELECT site_id, local_month, energy_kwh, 'MONTH' AS source
    FROM month_rows
    UNION ALL
    SELECT d.site_id, d.local_month, d.energy_kwh, 'DAY' AS source
    FROM daily_rows AS d
    WHERE NOT EXISTS (SELECT 1 FROM month_rows AS m
                      WHERE m.site_id = d.site_id AND m.local_month = d.local_month)
)
SELECT m.site_id,
       m.local_month,
       m.energy_kwh,
       m.source,
       (t.local_date IS NULL OR m.local_month >= substr(t.local_date, 1, 7)) AS partial
FROM months AS m
LEFT JOIN today AS t ON t.site_id = m.site_id;
