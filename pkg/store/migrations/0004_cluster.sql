-- 0004: nothing on SQLite. PostgreSQL's 0004 adds the tables of several
-- agents on one database (agents, leases); this empty step keeps the two
-- engines' numbers the same.
SELECT 1;
