"""CDK entry point for `npx cdk synth|deploy`; configuration is cdk.json context (see docs/configuration.md)."""

import sys

from infra.config import ConfigError
from infra.stack import build_app


def main() -> int:
    """A refused context value is one line on stderr, exit 2 (bad input, as the CLI's): the message names
    the key and the fix, and a traceback around it would only bury it."""
    try:
        build_app().synth()
    except ConfigError as error:
        print(" ".join(str(error).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
