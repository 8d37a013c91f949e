"""Fixtures of the end-to-end task tests: a run of the train command that several tasks read."""

import pytest

from helpers import TINY_MODEL, run_script


@pytest.fixture(scope="session")
def default_style_run(tmp_path_factory):
    """train.py on the embedded default data (generated on first use, here shrunk), with LAMB: once per session, read
    by the train, evaluate, render_activations, compare_representations and loss_landscape command tests."""
    tmp = tmp_path_factory.mktemp("cli")
    result = run_script(
        "train.py",
        "optimizer=lamb",
        "lr=1e-4",
        *TINY_MODEL,
        "trainer.max_steps=3",
        "data.synthetic.n_train=8",
        "data.synthetic.n_val=4",
        "data.synthetic.samples_per_file=4",
        f"hydra.run.dir={tmp / 'run'}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    return tmp, result
