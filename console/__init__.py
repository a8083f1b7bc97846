"""The operators' web console: server-rendered French pages over the same transitions as the API."""
