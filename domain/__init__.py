"""Pure domain of the cluster programme: stages, messages, rules.

Imports nothing with side effects so the Temporal workflow sandbox can pass it through.
"""
