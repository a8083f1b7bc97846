"""The SQL projection: its tables and schema, the one write of a transition's record, the reads."""
