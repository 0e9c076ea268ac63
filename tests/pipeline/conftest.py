import pytest
import yaml


@pytest.fixture
def write_recipe(tmp_path):
    def write(body: dict, name: str = "r.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(body))
        return path

    return write
