"""Local tools: the operator CLI, its terminal rendering, the embedded-AWS demo and emulator, and the
in-process port. Never shipped to Lambda (infra/bundling.py ships only what the handler imports)."""
