"""What the embedded Triton serves: each replay model's name, version label and variant.

From the settings (``VIGIL_REPLAY_*``, see vigil/settings.py):

* ``model_name`` (vLLM contract) and ``trtllm_model_name`` (TensorRT-LLM ensemble contract,
  and ``replay_unbatched_model`` without its dynamic batcher) serve ``replay_variant``;
* every entry of ``replay_models`` is one more model in the vLLM contract, serving its
  variant.

A model's Triton version is its variant's number in its file unless a label is pinned
(``replay_version``, or ``variant@N`` in ``replay_models``): then the label stays while the
recorded model behind it changes, which is the silent swap the drift monitor must catch.
With no pin, ``model_name`` + ``model_version`` of a result name the recorded model that
wrote it (:func:`describe` prints which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vigil.inference.exceptions import ReplayDataError
from vigil.inference.replay_data import ReplayBook
from vigil.inference.replay_model import Replayed
from vigil.settings import VigilSettings

Contract = Literal["vllm", "trtllm", "trtllm-unbatched"]


@dataclass(frozen=True)
class ServedReplay:
    """One Triton model of the replay reasoner."""

    model_name: str
    version: int
    contract: Contract
    replayed: Replayed


def load_replay_book(settings: VigilSettings) -> ReplayBook:
    return ReplayBook.load(*settings.replay_paths)


def replay_model_names(settings: VigilSettings) -> list[str]:
    """The names the embedded Triton serves (known without reading the files)."""
    names = [settings.model_name, settings.trtllm_model_name]
    if settings.replay_unbatched_model:
        names.append(settings.replay_unbatched_model)
    return [*names, *settings.replay_models]


def _split_label(ref: str) -> tuple[str, int]:
    """``variant@N`` -> (variant, N); a plain variant -> (variant, 0)."""
    variant, at, label = ref.rpartition("@")
    if not at:
        return ref, 0
    if not label.isdigit() or int(label) < 1:
        raise ReplayDataError(f"replay model {ref!r}: the version after '@' must be 1 or more")
    return variant, int(label)


def served_replay(settings: VigilSettings, book: ReplayBook) -> Replayed:
    """What ``model_name`` and ``trtllm_model_name`` answer with."""
    return Replayed(
        book,
        book.variant(settings.replay_variant).id,
        cross_model=settings.replay_samples == "cross-model",
        counterfactual=settings.replay_counterfactual_variant or None,
        swap_variant=(
            book.variant(settings.replay_swap_variant).id if settings.replay_swap_variant else None
        ),
        swap_at=settings.replay_swap_at,
    )


def replay_version(settings: VigilSettings, book: ReplayBook) -> int:
    """The version label of ``model_name`` and ``trtllm_model_name``."""
    return settings.replay_version or book.variant(settings.replay_variant).version


def replay_plan(settings: VigilSettings, book: ReplayBook) -> list[ServedReplay]:
    """Every model the embedded Triton binds; raises ReplayDataError on an unknown variant."""
    main = served_replay(settings, book)
    version = replay_version(settings, book)
    plan = [
        ServedReplay(settings.model_name, version, "vllm", main),
        ServedReplay(settings.trtllm_model_name, version, "trtllm", main),
    ]
    if settings.replay_unbatched_model:
        plan.append(
            ServedReplay(settings.replay_unbatched_model, version, "trtllm-unbatched", main)
        )
    for name, ref in settings.replay_models.items():
        variant, label = _split_label(ref)
        v = book.variant(variant)
        replayed = Replayed(book, v.id, cross_model=main.cross_model)
        plan.append(ServedReplay(name, label or v.version, "vllm", replayed))
    names = [m.model_name for m in plan]
    if len(set(names)) != len(names):
        raise ReplayDataError(f"two replay models have one name: {names}")
    return plan


def describe(plan: list[ServedReplay]) -> str:
    """One line per model: what a result's model_name/model_version stand for."""
    return "\n".join(
        f"  {m.model_name} v{m.version} ({m.contract}) = {m.replayed.variant}" for m in plan
    )
