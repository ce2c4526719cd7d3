"""The planner's steps, one module each (see exactsql.sql.planner and docs/design/planner.md)."""
