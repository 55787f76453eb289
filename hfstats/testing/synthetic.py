"""Synthetic listing elements shaped like the Hub's ``full=true`` models, deterministic by seed.

Field names, order and value forms follow ``shared/hub-api/samples/`` (model-gpt2.json and
friends): ``_id`` whose first 8 hex digits are the creation time, ISO times with milliseconds and
``Z``, ``gated`` as false/"auto"/"manual", ``siblings`` as ``{"rfilename": ...}``, and
``library_name``/``pipeline_tag`` absent (not null) when unknown. About 800 bytes per element.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

PLACEHOLDER_CREATED_AT = "2022-03-02T23:29:04.000Z"
_PLACEHOLDER_SECONDS = int(datetime(2022, 3, 2, 23, 29, 4, tzinfo=UTC).timestamp())
_EPOCH_END = datetime(2026, 11, 1, tzinfo=UTC)

# (weight, framework tags, library_name, weight files)
_PROFILES = [
    (46, ["pytorch"], "transformers", ["pytorch_model.bin"]),
    (18, ["safetensors"], "transformers", ["model.safetensors"]),
    (8, ["pytorch", "safetensors"], "transformers", ["pytorch_model.bin", "model.safetensors"]),
    (4, ["tf"], "transformers", ["tf_model.h5"]),
    (3, ["pytorch", "tf"], "transformers", ["pytorch_model.bin", "tf_model.h5"]),
    (1, ["jax"], "transformers", ["flax_model.msgpack"]),
    (
        1,
        ["pytorch", "tf", "jax"],
        "transformers",
        ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"],
    ),
    (5, ["gguf"], None, ["model-q4_k_m.gguf"]),
    (4, ["diffusers", "safetensors"], "diffusers", ["unet/diffusion_pytorch_model.safetensors"]),
    (2, ["onnx"], "transformers.js", ["onnx/model.onnx"]),
    (
        2,
        ["tensorboard", "pytorch"],
        "transformers",
        ["pytorch_model.bin", "runs/events.out.tfevents.1"],
    ),
    (2, ["keras", "tf"], "keras", ["saved_model.pb", "keras_metadata.pb"]),
    (1, ["tflite"], None, ["model.tflite"]),
    (1, ["coreml"], None, ["model.mlpackage/Manifest.json"]),
    (2, [], "peft", ["adapter_model.safetensors"]),
    (1, ["mlx", "safetensors"], "mlx", ["model.safetensors"]),
    (3, [], None, []),
]
_PIPELINES = [
    "text-generation",
    "text-classification",
    "fill-mask",
    "text-to-image",
    "automatic-speech-recognition",
    "image-classification",
    "translation",
    None,
]
_LANGUAGES = ["en", "fr", "de", "zh", "es", "ja"]
_LICENSES = ["apache-2.0", "mit", "other", "cc-by-4.0", "llama3"]


def iso(moment: datetime) -> str:
    """The Hub's time format: UTC with milliseconds and ``Z``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def object_id(created_seconds: int, index: int, seed: int) -> str:
    tail = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).hexdigest()
    return f"{created_seconds:08x}{tail}"


def synthetic_model(index: int, seed: int = 0, rng: random.Random | None = None) -> dict:
    """One model element; the same (index, seed) always gives the same element."""
    rng = rng or random.Random(f"{seed}:{index}")
    weights = [p[0] for p in _PROFILES]
    _, framework_tags, library, weight_files = rng.choices(_PROFILES, weights=weights)[0]
    if rng.random() < 0.12:
        # The Hub gave these repositories their object ids when it began storing creation
        # dates: the id's time is the placeholder instant too (gpt2, bert-base-uncased).
        created_seconds = _PLACEHOLDER_SECONDS
        created_at = PLACEHOLDER_CREATED_AT
    else:
        created_seconds = (
            _PLACEHOLDER_SECONDS
            + 1
            + rng.randrange(0, int(_EPOCH_END.timestamp() - _PLACEHOLDER_SECONDS))
        )
        created_at = iso(datetime.fromtimestamp(created_seconds, UTC))
    created = datetime.fromtimestamp(created_seconds, UTC)
    modified = created + timedelta(
        seconds=rng.randrange(0, max(1, int((_EPOCH_END - created).total_seconds())))
    )
    author = f"user{rng.randrange(0, max(1, index // 7 + 1)):06d}"
    name = f"{author}/model-{index:07d}"
    pipeline = rng.choice(_PIPELINES)
    tags = list(framework_tags)
    if library and library not in tags:
        tags.insert(0, library)
    if pipeline:
        tags.append(pipeline)
    tags += rng.sample(_LANGUAGES, rng.randrange(0, 3))
    if rng.random() < 0.15:
        tags.append(f"arxiv:{rng.randrange(1800, 2500)}.{rng.randrange(10000, 99999)}")
    if rng.random() < 0.2:
        tags.append(f"dataset:org/dataset-{rng.randrange(1000)}")
    tags += [f"license:{rng.choice(_LICENSES)}", "endpoints_compatible", "region:us"]
    files = [".gitattributes", "README.md", "config.json"] + list(weight_files)
    if library == "transformers":
        files += ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    downloads = int(rng.paretovariate(1.2)) - 1
    element = {
        "_id": object_id(created_seconds, index, seed),
        "id": name,
        "author": author,
        "gated": rng.choices([False, "auto", "manual"], weights=[95, 3, 2])[0],
        "lastModified": iso(modified),
        "likes": int(rng.paretovariate(1.5)) - 1,
        "trendingScore": 0,
        "private": False,
        "sha": hashlib.sha1(f"{seed}:{index}:{modified}".encode()).hexdigest(),
        "downloads": downloads,
        "tags": tags,
        "createdAt": created_at,
        "modelId": name,
        "siblings": [{"rfilename": f} for f in files],
        "disabled": False,
    }
    if pipeline:
        element["pipeline_tag"] = pipeline
    if library:
        element["library_name"] = library
    return element


def synthetic_models(count: int, seed: int = 0) -> Iterator[dict]:
    for index in range(count):
        yield synthetic_model(index, seed)


def touch(model: dict, moment: datetime) -> dict:
    """The model after a new commit at ``moment``: new sha and lastModified."""
    changed = dict(model)
    changed["lastModified"] = iso(moment)
    changed["sha"] = hashlib.sha1(f"{model['sha']}:{moment}".encode()).hexdigest()
    return changed
