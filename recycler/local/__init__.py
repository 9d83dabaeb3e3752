"""Local tools: the embedded-AWS demo and emulator, and the in-process port the CLI, the demo and the
tests run the workflow on. Never shipped to Lambda (infra/bundling.py ships only what the handler
imports)."""
