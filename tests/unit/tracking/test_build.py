"""tracking.build: the logger a task asks for, with the job type and tags its caller gives."""

from omegaconf import OmegaConf

from fwilab.tracking.build import build_logger
from fwilab.tracking.run_logger import LocalImageLogger
from fwilab.tracking.wandb_run import run_identity


def test_no_backend_logs_local_pictures_only_when_asked(tmp_path):
    settings = OmegaConf.create({"backend": "none"})
    with_pictures = build_logger(settings, tmp_path, "evaluate", ["InversionNet"], {})
    without = build_logger(settings, tmp_path, "evaluate", ["InversionNet"], {}, local_images=False)
    assert [type(b) for b in with_pictures.backends] == [LocalImageLogger] and without.backends == []


def test_the_callers_tags_come_before_the_configured_ones(tmp_path):
    settings = OmegaConf.create({"backend": "wandb", "group": None, "name": None, "tags": ["smoke"]})
    identity = run_identity(settings, tmp_path / "run7", ["ReconstructionNet", "adamw", "curvefault_a"])
    assert identity == {"group": None, "name": "run7", "tags": ["ReconstructionNet", "adamw", "curvefault_a", "smoke"]}
