"""Training objectives: what one training step optimizes (``conf/objective/``), each owning its losses, its extra
networks and optimizers and what they add to a checkpoint; the loop around them is shared.

``OBJECTIVES`` maps ``objective.name`` to its class; ``build_objective`` makes the run's.
"""

from fwilab.training.objectives.base import Objective, StepTools, apply_update
from fwilab.training.objectives.physics import Physics
from fwilab.training.objectives.supervised import Supervised
from fwilab.training.objectives.velocitygan import VelocityGAN

OBJECTIVES: dict[str, type[Objective]] = {"supervised": Supervised, "velocitygan": VelocityGAN, "physics": Physics}

__all__ = [
    "OBJECTIVES",
    "Objective",
    "Physics",
    "StepTools",
    "Supervised",
    "VelocityGAN",
    "apply_update",
    "objective_class",
]


def objective_class(name: str) -> type[Objective]:
    """The class of ``objective.name`` (checked against ``fwilab.config.groups.OBJECTIVES`` when read)."""
    return OBJECTIVES[name]
