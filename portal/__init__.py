"""The applicants' portal: associations deposit their applications and get signed receipts."""
