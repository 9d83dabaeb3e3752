"""Pure recycle decisions: which instance of a group to replace, or why not.

Nothing here talks to AWS. Every input is a snapshot read by the fleet adapter, so each rule can be
tested exhaustively with plain data: `tags` (per-group settings), `guards` (safe to act?), `victims`
(which instance), `ranking` (which groups first), `containers` (what runs on the instances).
"""
