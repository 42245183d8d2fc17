"""``data``: the MNIST source and its splits (stage ``data``; every reader of ``data/mnist.npz`` checks the sizes)."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperlab.config import checks
from hyperlab.config.checks import SOURCE_SIZES, check_split_sizes
from hyperlab.config.fields import ConfigError, Int, List, Number, Section, Text, check

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MAX_SPLIT = SOURCE_SIZES["full"][0]


class DataParams(Section):
    """``data``: where the MNIST digits come from and how they are split."""

    source: Literal["bundled", "full", "idx_dir"] = "bundled"
    n_train: Int = Field(3000, ge=10, le=_MAX_SPLIT)
    n_val: Int = Field(1000, ge=10, le=_MAX_SPLIT)
    n_test: Int = Field(1000, ge=10, le=_MAX_SPLIT)
    mirrors: Annotated[List[Text], check(checks.urls)] = Field(MNIST_MIRRORS, min_length=1)
    cache_dir: Annotated[Text, check(checks.path)] = ".cache/mnist"
    idx_dir: Annotated[Text, check(checks.optional_path)] = ""  # "": not set (read only when source is idx_dir)
    timeout_s: Number = Field(30.0, ge=0.1, le=3600)  # below 0.1 s no mirror can answer: every fetch fails

    @model_validator(mode="after")
    def _fits_the_source(self):
        if self.source == "idx_dir" and not self.idx_dir:
            raise ConfigError("params.yaml: data.idx_dir: empty; must name a folder when data.source is idx_dir")
        if self.source in SOURCE_SIZES:  # idx_dir: checked once its files are read (data.make_splits)
            check_split_sizes(
                self.n_train, self.n_val, self.n_test, *SOURCE_SIZES[self.source], f"data.source {self.source}"
            )
        return self
