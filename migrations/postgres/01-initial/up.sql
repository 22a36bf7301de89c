-- The remote schema of seh's pushers in PostgreSQL (issue 13), version 1, in the schema
-- named by the pusher's `schema` (search_path). The data tables mirror the local ones of
-- the catalogue (src/store/catalogue.rs): the same names, keys and value columns,
-- `updated_at` as the local text, no `change_seq` (that counts per source; the cursor
-- table keeps it). Time series also get `ts`, the bucket start as a real TIMESTAMPTZ
-- (what Grafana's $__timeFilter wants), beside the UTC text key `ts_utc`.
-- `seh push` applies it in one transaction with the version row.

-- Per source database and table: every local row with change_seq <= last_change_seq is
-- here. Written in the same transaction as the rows it covers.
CREATE TABLE seh_push_cursor (
    source_id       TEXT NOT NULL,
    table_name      TEXT NOT NULL,
    last_change_seq BIGINT NOT NULL,
    pushed_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, table_name)
);

CREATE TABLE seh_sites (
    site_id BIGINT NOT NULL,
    name TEXT,
    account_id BIGINT,
    peak_power_kw DOUBLE PRECISION,
    installation_date TEXT,
    last_update_time TEXT,
    activation_status TEXT,
    note TEXT,
    address TEXT,
    city TEXT,
    state TEXT,
    zip TEXT,
    country TEXT,
    timezone TEXT,
    raw_json TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id)
);

CREATE TABLE seh_devices (
    site_id BIGINT NOT NULL,
    device_key TEXT NOT NULL,
    device_type TEXT,
    serial_number TEXT,
    name TEXT,
    manufacturer TEXT,
    model TEXT,
    part_number TEXT,
    firmware_version TEXT,
    connected_to TEXT,
    connected_to_name TEXT,
    active BIGINT,
    communication_type TEXT,
    meter_type TEXT,
    created_at TEXT,
    raw_json TEXT,
    removed_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, device_key)
);

CREATE TABLE seh_overview (
    site_id BIGINT NOT NULL,
    local_date TEXT NOT NULL,
    production_wh DOUBLE PRECISION,
    production_self_wh DOUBLE PRECISION,
    production_storage_wh DOUBLE PRECISION,
    production_grid_wh DOUBLE PRECISION,
    consumption_wh DOUBLE PRECISION,
    consumption_pv_wh DOUBLE PRECISION,
    consumption_storage_wh DOUBLE PRECISION,
    consumption_grid_wh DOUBLE PRECISION,
    production_api_unit TEXT,
    consumption_api_unit TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, local_date)
);

CREATE TABLE seh_environmental_benefits (
    site_id BIGINT NOT NULL,
    co2_kg DOUBLE PRECISION,
    ev_km DOUBLE PRECISION,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id)
);

CREATE TABLE seh_alerts (
    alert_id BIGINT NOT NULL,
    site_id BIGINT,
    type TEXT,
    category TEXT,
    impact BIGINT,
    status TEXT,
    first_trigger TEXT,
    last_trigger TEXT,
    component_name TEXT,
    component_serial TEXT,
    raw_json TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (alert_id)
);

CREATE TABLE seh_power_flow (
    site_id BIGINT NOT NULL,
    updated_at_api TEXT NOT NULL,
    pv_active BIGINT,
    pv_power_w DOUBLE PRECISION,
    load_active BIGINT,
    load_power_w DOUBLE PRECISION,
    storage_active BIGINT,
    storage_power_w DOUBLE PRECISION,
    storage_status TEXT,
    storage_charge_level DOUBLE PRECISION,
    grid_active BIGINT,
    grid_power_w DOUBLE PRECISION,
    grid_status TEXT,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, updated_at_api)
);

CREATE TABLE seh_energy (
    site_id BIGINT NOT NULL,
    resolution TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    utc_offset_min BIGINT,
    energy_wh DOUBLE PRECISION,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, resolution, ts_utc)
);
CREATE INDEX seh_energy_ts ON seh_energy (site_id, ts);

CREATE TABLE seh_power (
    site_id BIGINT NOT NULL,
    resolution TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    utc_offset_min BIGINT,
    power_w DOUBLE PRECISION,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, resolution, ts_utc)
);
CREATE INDEX seh_power_ts ON seh_power (site_id, ts);

CREATE TABLE seh_inverter_telemetry (
    site_id BIGINT NOT NULL,
    device_key TEXT NOT NULL,
    resolution TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    utc_offset_min BIGINT,
    value DOUBLE PRECISION,
    unit TEXT,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc)
);
CREATE INDEX seh_inverter_telemetry_ts ON seh_inverter_telemetry (site_id, ts);

CREATE TABLE seh_meter_telemetry (
    site_id BIGINT NOT NULL,
    device_key TEXT NOT NULL,
    resolution TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    utc_offset_min BIGINT,
    value DOUBLE PRECISION,
    unit TEXT,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc)
);
CREATE INDEX seh_meter_telemetry_ts ON seh_meter_telemetry (site_id, ts);

CREATE TABLE seh_storage_telemetry (
    site_id BIGINT NOT NULL,
    device_key TEXT NOT NULL,
    resolution TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    utc_offset_min BIGINT,
    value DOUBLE PRECISION,
    unit TEXT,
    api_unit TEXT,
    updated_at TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc)
);
CREATE INDEX seh_storage_telemetry_ts ON seh_storage_telemetry (site_id, ts);

-- The views of migrations/sqlite/01-initial (and 02), rewritten for this dialect; they
-- return the same rows. Local times are text as in SQLite, computed from `ts`.

-- Latest non-null quarter-hour power per site.
CREATE VIEW v_seh_latest_power AS
SELECT p.site_id,
       p.ts_utc,
       p.utc_offset_min,
       to_char((p.ts AT TIME ZONE 'UTC') + p.utc_offset_min * INTERVAL '1 minute', 'YYYY-MM-DD HH24:MI:SS') AS local_time,
       p.power_w
FROM seh_sites AS s
JOIN seh_power AS p
  ON p.site_id = s.site_id
 AND p.resolution = 'QUARTER_HOUR'
 AND p.ts_utc = (SELECT p2.ts_utc
                 FROM seh_power AS p2
                 WHERE p2.site_id = s.site_id
                   AND p2.resolution = 'QUARTER_HOUR'
                   AND p2.power_w IS NOT NULL
                 ORDER BY p2.ts_utc DESC
                 LIMIT 1);

-- Energy per site-local day: the DAY bucket when it holds a value, else the sum of the
-- day's quarter-hour buckets.
CREATE VIEW v_seh_daily_energy AS
WITH day_rows AS (
    SELECT site_id,
           to_char((ts AT TIME ZONE 'UTC') + utc_offset_min * INTERVAL '1 minute', 'YYYY-MM-DD') AS local_date,
           energy_wh
    FROM seh_energy
    WHERE resolution = 'DAY' AND energy_wh IS NOT NULL
),
quarter_rows AS (
    SELECT site_id,
           to_char((ts AT TIME ZONE 'UTC') + utc_offset_min * INTERVAL '1 minute', 'YYYY-MM-DD') AS local_date,
           SUM(energy_wh) AS energy_wh
    FROM seh_energy
    WHERE resolution = 'QUARTER_HOUR'
    GROUP BY site_id, local_date
)
SELECT site_id, local_date, energy_wh / 1000.0 AS energy_kwh, 'DAY'::text AS source
FROM day_rows
UNION ALL
SELECT q.site_id, q.local_date, q.energy_wh / 1000.0 AS energy_kwh, 'QUARTER_HOUR'::text AS source
FROM quarter_rows AS q
WHERE NOT EXISTS (SELECT 1 FROM day_rows AS d
                  WHERE d.site_id = q.site_id AND d.local_date = q.local_date);

-- Energy per site-local month: the MONTH bucket when it holds a value, else the sum of
-- v_seh_daily_energy.
CREATE VIEW v_seh_energy_monthly AS
WITH month_rows AS (
    SELECT site_id,
           to_char((ts AT TIME ZONE 'UTC') + utc_offset_min * INTERVAL '1 minute', 'YYYY-MM') AS local_month,
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
)
SELECT site_id, local_month, energy_kwh, 'MONTH'::text AS source
FROM month_rows
UNION ALL
SELECT d.site_id, d.local_month, d.energy_kwh, 'DAY'::text AS source
FROM daily_rows AS d
WHERE NOT EXISTS (SELECT 1 FROM month_rows AS m
                  WHERE m.site_id = d.site_id AND m.local_month = d.local_month);

-- One line per site for dashboards.
CREATE VIEW v_seh_site_summary AS
SELECT s.site_id,
       s.name,
       s.timezone,
       s.peak_power_kw,
       COALESCE(
           (SELECT e.energy_wh FROM seh_energy AS e
            WHERE e.site_id = s.site_id AND e.resolution = 'TOTAL' AND e.energy_wh IS NOT NULL
            ORDER BY e.ts_utc DESC LIMIT 1),
           (SELECT SUM(e.energy_wh) FROM seh_energy AS e
            WHERE e.site_id = s.site_id AND e.resolution = 'YEAR')
       ) / 1000.0 AS lifetime_energy_kwh,
       lp.ts_utc AS last_power_ts_utc,
       lp.local_time AS last_power_local_time,
       lp.power_w AS last_power_w,
       (SELECT COUNT(*) FROM seh_energy AS e WHERE e.site_id = s.site_id) AS energy_rows,
       (SELECT COUNT(*) FROM seh_power AS p WHERE p.site_id = s.site_id) AS power_rows,
       (SELECT COUNT(*) FROM seh_inverter_telemetry AS t WHERE t.site_id = s.site_id)
         + (SELECT COUNT(*) FROM seh_meter_telemetry AS t WHERE t.site_id = s.site_id)
         + (SELECT COUNT(*) FROM seh_storage_telemetry AS t WHERE t.site_id = s.site_id)
         AS telemetry_rows
FROM seh_sites AS s
LEFT JOIN v_seh_latest_power AS lp ON lp.site_id = s.site_id;

-- Latest power-flow snapshot per site.
CREATE VIEW v_seh_power_flow_current AS
SELECT f.site_id,
       f.updated_at_api,
       f.pv_active, f.pv_power_w,
       f.load_active, f.load_power_w,
       f.storage_active, f.storage_power_w, f.storage_status, f.storage_charge_level,
       f.grid_active, f.grid_power_w, f.grid_status,
       f.api_unit
FROM seh_power_flow AS f
WHERE f.updated_at_api = (SELECT MAX(f2.updated_at_api) FROM seh_power_flow AS f2
                          WHERE f2.site_id = f.site_id);

-- Latest non-null quarter-hour value of the main storage metrics per battery.
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
        ORDER BY t.ts_utc DESC LIMIT 1) AS discharge_power_w
FROM batteries AS b;

-- The equipment inventory with site names; in_inventory = 0 for devices no longer listed.
CREATE VIEW v_seh_equipment_list AS
SELECT d.site_id,
       s.name AS site_name,
       d.device_type,
       d.name,
       d.manufacturer,
       d.model,
       d.serial_number,
       d.part_number,
       d.firmware_version,
       d.connected_to,
       d.connected_to_name,
       d.active,
       d.communication_type,
       d.meter_type,
       d.created_at,
       CASE WHEN d.removed_at IS NULL THEN 1 ELSE 0 END AS in_inventory,
       d.removed_at,
       d.device_key
FROM seh_devices AS d
LEFT JOIN seh_sites AS s ON s.site_id = d.site_id;
