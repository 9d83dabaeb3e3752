"""The operator CLI for real accounts: `plan`, `run`, `fleet`, `history` and `run`'s progress lines,
with their first-contact checks and their table/JSON/CSV output. Never shipped to Lambda
(infra/bundling.py ships only what the handler imports)."""
