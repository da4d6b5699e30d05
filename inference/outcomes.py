"""What a request ends with: a prediction of the model it names, or a failure with a stable code."""

from __future__ import annotations

from dataclasses import dataclass

from inference.errors import InferenceError


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    labels: tuple[str, ...]
    input_size: int


@dataclass(frozen=True)
class Prediction:
    """The request's top_k labels with their softmax probabilities (`scores`), best first."""

    scores: tuple[LabelScore, ...]
    model_name: str
    model_version: str

    def __post_init__(self) -> None:
        if not self.scores:
            raise ValueError("a prediction needs at least one label")

    @property
    def label(self) -> str:
        return self.scores[0].label

    @property
    def score(self) -> float:
        return self.scores[0].score


@dataclass(frozen=True)
class Failure:
    """Why a request failed: `code` is stable for machines, `message` is for people."""

    code: str
    message: str

    @classmethod
    def of(cls, error: InferenceError) -> Failure:
        """The failure a client reads for `error`: its code, and its message."""
        return cls(error.code, str(error))
