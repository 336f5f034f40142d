"""Detection content shipped with ratwatch (installed as ``ratwatch_signatures``).

The YAML files beside this module are data, not code; ``agent.catalogue.loader``
loads and validates them. See README.md here for the schema.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

REMOTE_TOOLS = "remote_tools.yaml"
SCAM_CONTEXT = "scam_context.yaml"
RULES = "rules.yaml"


def bundled(name: str) -> Traversable:
    """Return the packaged signature file ``name`` (one of the constants above)."""
    return files(__name__).joinpath(name)
