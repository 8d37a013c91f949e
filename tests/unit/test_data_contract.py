"""fwilab.data_contract: OpenFWI's published constants, and the error a family without them gets."""

import pytest

from fwilab.data_contract import published_seismic_range
from fwilab.errors import ConfigError


def test_a_published_family_has_openfwis_dataset_config_range():
    assert published_seismic_range("curvefault_a") == (-26.48, 52.32)  # OpenFWI's dataset_config.json


def test_an_unknown_family_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"no data range for family 'marmousi'; known: curvefault_a, curvefault_b, "):
        published_seismic_range("marmousi")
