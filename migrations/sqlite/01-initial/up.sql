-- seh local store, schema version 1.
--
-- Conventions (docs/SCHEMA.md explains them in full):
--   * every table is named seh_*, every view v_seh_*;
--   * only INTEGER, REAL, TEXT (and one BLOB for the raw archive), so the same rows fit
--     PostgreSQL and MariaDB;
--   * instants are TEXT 'YYYY-MM-DDTHH:MM:SSZ' (UTC), written by the store, never by SQL;
--   * energy is Wh, power is W, whatever unit the API sent (kept in api_unit);
--   * data tables carry updated_at and change_seq (see seh_change_counter).
-- Pragmas (WAL, foreign_keys, busy_timeout) are set in code, not here.

-- One row holding the last change marker handed out. The store bumps it once per write
-- transaction and stamps every inserted or changed data row with the new value.
CREATE TABLE seh_change_counter (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO seh_change_counter (id, seq) VALUES (1, 0);

-- ---------------------------------------------------------------------------------------
-- Entities
-- ---------------------------------------------------------------------------------------

CREATE TABLE seh_sites (
    site_id           INTEGER NOT NULL PRIMARY KEY,
    name              TEXT,
    account_id        INTEGER,
    peak_power_kw     REAL,
    installation_date TEXT,
    last_update_time  TEXT,
    activation_status TEXT,
    note              TEXT,
    address           TEXT,
    city              TEXT,
    state             TEXT,
    zip               TEXT,
    country           TEXT,
    timezone          TEXT,
    raw_json          TEXT,
    updated_at        TEXT NOT NULL,
    change_seq        INTEGER NOT NULL
);
CREATE INDEX seh_sites_change_seq ON seh_sites (change_seq);

CREATE TABLE seh_devices (
    site_id            INTEGER NOT NULL,
    device_key         TEXT NOT NULL,
    device_type        TEXT NOT NULL,
    serial_number      TEXT,
    name               TEXT,
    manufacturer       TEXT,
    model              TEXT,
    part_number        TEXT,
    firmware_version   TEXT,
    connected_to       TEXT,
    connected_to_name  TEXT,
    active             INTEGER,
    communication_type TEXT,
    meter_type         TEXT,
    created_at         TEXT,
    raw_json           TEXT NOT NULL,
    -- NULL while the device is in the latest inventory; the instant it went missing otherwise.
    removed_at         TEXT,
    updated_at         TEXT NOT NULL,
    change_seq         INTEGER NOT NULL,
    PRIMARY KEY (site_id, device_key)
) WITHOUT ROWID;
CREATE INDEX seh_devices_change_seq ON seh_devices (change_seq);

CREATE TABLE seh_overview (
    site_id                INTEGER NOT NULL,
    local_date             TEXT NOT NULL CHECK (local_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    production_wh          REAL,
    production_self_wh     REAL,
    production_storage_wh  REAL,
    production_grid_wh     REAL,
    consumption_wh         REAL,
    consumption_pv_wh      REAL,
    consumption_storage_wh REAL,
    consumption_grid_wh    REAL,
    production_api_unit    TEXT,
    consumption_api_unit   TEXT,
    updated_at             TEXT NOT NULL,
    change_seq             INTEGER NOT NULL,
    PRIMARY KEY (site_id, local_date)
) WITHOUT ROWID;
CREATE INDEX seh_overview_change_seq ON seh_overview (change_seq);

CREATE TABLE seh_environmental_benefits (
    site_id    INTEGER NOT NULL PRIMARY KEY,
    co2_kg     REAL,
    ev_km      REAL,
    api_unit   TEXT,
    updated_at TEXT NOT NULL,
    change_seq INTEGER NOT NULL
);
CREATE INDEX seh_environmental_benefits_change_seq ON seh_environmental_benefits (change_seq);

CREATE TABLE seh_alerts (
    alert_id         INTEGER NOT NULL PRIMARY KEY,
    site_id          INTEGER NOT NULL,
    type             TEXT,
    category         TEXT,
    impact           INTEGER,
    status           TEXT,
    first_trigger    TEXT,
    last_trigger     TEXT,
    component_name   TEXT,
    component_serial TEXT,
    raw_json         TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    change_seq       INTEGER NOT NULL
);
CREATE INDEX seh_alerts_site ON seh_alerts (site_id);
CREATE INDEX seh_alerts_change_seq ON seh_alerts (change_seq);

CREATE TABLE seh_power_flow (
    site_id              INTEGER NOT NULL,
    updated_at_api       TEXT NOT NULL,
    pv_active            INTEGER,
    pv_power_w           REAL,
    load_active          INTEGER,
    load_power_w         REAL,
    storage_active       INTEGER,
    storage_power_w      REAL,
    storage_status       TEXT,
    storage_charge_level REAL,
    grid_active          INTEGER,
    grid_power_w         REAL,
    grid_status          TEXT,
    api_unit             TEXT,
    updated_at           TEXT NOT NULL,
    change_seq           INTEGER NOT NULL,
    PRIMARY KEY (site_id, updated_at_api)
) WITHOUT ROWID;
CREATE INDEX seh_power_flow_change_seq ON seh_power_flow (change_seq);

-- ---------------------------------------------------------------------------------------
-- Time series. One row per bucket; ts_utc is the bucket timestamp in UTC, utc_offset_min
-- the site-local offset the API stamped on it.
-- ---------------------------------------------------------------------------------------

CREATE TABLE seh_energy (
    site_id        INTEGER NOT NULL,
    resolution     TEXT NOT NULL CHECK (resolution IN ('QUARTER_HOUR', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'TOTAL')),
    ts_utc         TEXT NOT NULL CHECK (ts_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'),
    utc_offset_min INTEGER NOT NULL,
    energy_wh      REAL,
    api_unit       TEXT,
    updated_at     TEXT NOT NULL,
    change_seq     INTEGER NOT NULL,
    PRIMARY KEY (site_id, resolution, ts_utc)
) WITHOUT ROWID;
CREATE INDEX seh_energy_change_seq ON seh_energy (change_seq);

CREATE TABLE seh_power (
    site_id        INTEGER NOT NULL,
    resolution     TEXT NOT NULL CHECK (resolution IN ('QUARTER_HOUR', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'TOTAL')),
    ts_utc         TEXT NOT NULL CHECK (ts_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'),
    utc_offset_min INTEGER NOT NULL,
    power_w        REAL,
    api_unit       TEXT,
    updated_at     TEXT NOT NULL,
    change_seq     INTEGER NOT NULL,
    PRIMARY KEY (site_id, resolution, ts_utc)
) WITHOUT ROWID;
CREATE INDEX seh_power_change_seq ON seh_power (change_seq);

-- Bulk telemetry in long format: one row per (device, metric, bucket). device_key is the key
-- the response used (the serial number), metric the series name exactly as sent.
CREATE TABLE seh_inverter_telemetry (
    site_id        INTEGER NOT NULL,
    device_key     TEXT NOT NULL,
    resolution     TEXT NOT NULL CHECK (resolution IN ('QUARTER_HOUR', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'TOTAL')),
    metric         TEXT NOT NULL,
    ts_utc         TEXT NOT NULL CHECK (ts_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'),
    utc_offset_min INTEGER NOT NULL,
    value          REAL,
    unit           TEXT NOT NULL,
    api_unit       TEXT,
    updated_at     TEXT NOT NULL,
    change_seq     INTEGER NOT NULL,
    PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc)
) WITHOUT ROWID;
CREATE INDEX seh_inverter_telemetry_change_seq ON seh_inverter_telemetry (change_seq);

CREATE TABLE seh_meter_telemetry (
    site_id        INTEGER NOT NULL,
    device_key     TEXT NOT NULL,
    resolution     TEXT NOT NULL CHECK (resolution IN ('QUARTER_HOUR', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'TOTAL')),
    metric         TEXT NOT NULL,
    ts_utc         TEXT NOT NULL CHECK (ts_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'),
    utc_offset_min INTEGER NOT NULL,
    value          REAL,
    unit           TEXT NOT NULL,
    api_unit       TEXT,
    updated_at     TEXT NOT NULL,
    change_seq     INTEGER NOT NULL,
    PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc)
) WITHOUT ROWID;
CREATE INDEX seh_meter_telemetry_change_seq ON seh_meter_telemetry (change_seq);

CREATE TABLE seh_storage_telemetry (
    site_id        INTEGER NOT NULL,
    device_key     TEXT NOT NULL,
    resolution     TEXT NOT NULL CHECK (resolution IN ('QUARTER_HOUR', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'TOTAL')),
    metric         TEXT NOT NULL,
    ts_utc         TEXT NOT NULL CHECK (ts_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'),
    utc_offset_min INTEGER NOT NULL,
    value          REAL,
    unit           TEXT NOT NULL,
    api_unit       TEXT,
    updated_at     TEXT NOT NULL,
    change_seq     INTEGER NOT NULL,
    PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc)
) WITHOUT ROWID;
CREATE INDEX seh_storage_telemetry_change_seq ON seh_storage_telemetry (change_seq);

-- ---------------------------------------------------------------------------------------
-- Raw archive, harvest state and ledgers (not data tables: no change_seq).
-- ---------------------------------------------------------------------------------------

-- Every response body as received, gzip-compressed, so all data tables can be rebuilt
-- without calling the API again.
CREATE TABLE seh_raw_responses (
    id         INTEGER NOT NULL PRIMARY KEY,
    fetched_at TEXT NOT NULL,
    path       TEXT NOT NULL,
    query      TEXT NOT NULL,
    status     INTEGER NOT NULL,
    site_id    INTEGER,
    family     TEXT NOT NULL,
    body_gz    BLOB NOT NULL,
    body_len   INTEGER NOT NULL
);

-- Per (site, family, resolution) harvest cursor. site_id 0 = fleet-level family,
-- resolution '' = not applicable.
CREATE TABLE seh_sync_state (
    site_id       INTEGER NOT NULL,
    family        TEXT NOT NULL,
    resolution    TEXT NOT NULL,
    covered_from  TEXT,
    covered_to    TEXT,
    last_success  TEXT,
    last_error    TEXT,
    last_error_at TEXT,
    rows_last_run INTEGER,
    extra         TEXT,
    PRIMARY KEY (site_id, family, resolution)
) WITHOUT ROWID;

-- One row per HTTP request made (or attempted). credential is a non-secret label.
CREATE TABLE seh_api_calls (
    id          INTEGER NOT NULL PRIMARY KEY,
    at          TEXT NOT NULL,
    credential  TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    credits     INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    error       TEXT
);
CREATE INDEX seh_api_calls_at ON seh_api_calls (at);

-- One row per sync run.
CREATE TABLE seh_runs (
    run_id      INTEGER NOT NULL PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    exit_code   INTEGER,
    calls       INTEGER,
    credits     INTEGER,
    rows        INTEGER,
    summary     TEXT
);

-- ---------------------------------------------------------------------------------------
-- Views. Local time of a row: datetime(ts_utc, utc_offset_min || ' minutes').
-- ---------------------------------------------------------------------------------------

-- Latest non-null quarter-hour power per known site.
CREATE VIEW v_seh_latest_power AS
SELECT p.site_id,
       p.ts_utc,
       p.utc_offset_min,
       datetime(p.ts_utc, p.utc_offset_min || ' minutes') AS local_time,
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
)
SELECT site_id, local_date, energy_wh / 1000.0 AS energy_kwh, 'DAY' AS source
FROM day_rows
UNION ALL
SELECT q.site_id, q.local_date, q.energy_wh / 1000.0 AS energy_kwh, 'QUARTER_HOUR' AS source
FROM quarter_rows AS q
WHERE NOT EXISTS (SELECT 1 FROM day_rows AS d
                  WHERE d.site_id = q.site_id AND d.local_date = q.local_date);

-- Energy per site-local month: the MONTH bucket when it holds a value, else the sum of
-- v_seh_daily_energy.
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
)
SELECT site_id, local_month, energy_kwh, 'MONTH' AS source
FROM month_rows
UNION ALL
SELECT d.site_id, d.local_month, d.energy_kwh, 'DAY' AS source
FROM daily_rows AS d
WHERE NOT EXISTS (SELECT 1 FROM month_rows AS m
                  WHERE m.site_id = d.site_id AND m.local_month = d.local_month);

-- One line per site for `seh status` and dashboards.
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
       d.removed_at IS NULL AS in_inventory,
       d.removed_at,
       d.device_key
FROM seh_devices AS d
LEFT JOIN seh_sites AS s ON s.site_id = d.site_id;

-- Harvest cursors with site names; failing = 1 when the last error is newer than the last
-- success.
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
        AND (st.last_success IS NULL OR st.last_error_at > st.last_success)) AS failing
FROM seh_sync_state AS st
LEFT JOIN seh_sites AS s ON s.site_id = st.site_id;
