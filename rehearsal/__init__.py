"""Rehearsal: a whole call calendar on the time-skipping server, and demo data for a new install."""
