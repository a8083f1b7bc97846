"""The schema's migrations (Alembic): how a deployed database follows the tables' models."""
