-- A 2xx body that seh could not parse is archived all the same (its credit is spent, and a
-- later seh may read it): `unreadable` holds why it was rejected, NULL for bodies whose
-- rows are stored. `seh reprocess` retries the marked ones and clears the mark when they
-- parse.
ALTER TABLE seh_raw_responses ADD COLUMN unreadable TEXT;
