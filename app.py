"""CDK entry point for `npx cdk synth|deploy`; configuration is cdk.json context (see docs/configuration.md)."""

from infra.stack import build_app

build_app().synth()
