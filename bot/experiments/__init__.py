"""Experiments on the intake: YAML declarations (config), deterministic assignment (assign), statistics (stats),
outcomes from the store, guard-rail looks and the report (report)."""
