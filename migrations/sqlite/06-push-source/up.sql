-- The stable id of this database as a source of remote pushes (issue 13): a remote
-- database keeps one cursor per (source_id, table), so several Pis can push into it.
-- Made once, at random, when the migration runs; a copy made with `seh backup` keeps it
-- (so a restored copy resumes where the original stopped), and nothing rewrites it.
CREATE TABLE seh_source (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    source_id TEXT NOT NULL
);
INSERT INTO seh_source (id, source_id) VALUES (1, lower(hex(randomblob(16))));
