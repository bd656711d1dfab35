"""The DINOv2 architecture description, read from a weights file's names and shapes."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import WeightsError

# Every released DINOv2 model (S/B/L/g, with or without registers) uses 64-wide attention heads.
RELEASED_HEAD_DIM = 64
# hidden width -> heads of the released models (ViT-S/B/L/g)
RELEASED_HEADS = {width: width // RELEASED_HEAD_DIM for width in (384, 768, 1024, 1536)}


@dataclass(frozen=True)
class Dinov2Config:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: (
        int  # MLP hidden width (SwiGLU: width of each of the two gated halves)
    )
    patch_size: int = 14
    image_size: int = (
        518  # the position table covers (image_size // patch_size) ** 2 patches
    )
    num_channels: int = 3
    num_register_tokens: int = 0
    use_swiglu_ffn: bool = False
    layer_norm_eps: float = 1e-6
    # Position-embedding interpolation. Defaults follow transformers: resize to the patch grid,
    # antialiased for the with-registers family (None = family default). interpolate_offset > 0
    # selects facebookresearch's original scale_factor = (grid + offset) / table behaviour.
    interpolate_offset: float = 0.0
    interpolate_antialias: bool | None = None

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise WeightsError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def antialias(self) -> bool:
        """Whether the position table is resized with antialiasing (transformers: with-registers only)."""
        if self.interpolate_antialias is None:
            return self.num_register_tokens > 0
        return self.interpolate_antialias

    @property
    def family(self) -> str:
        return "dinov2-with-registers" if self.num_register_tokens else "dinov2"

    def describe(self) -> str:
        ffn = "SwiGLU" if self.use_swiglu_ffn else "MLP"
        regs = (
            f", {self.num_register_tokens} registers"
            if self.num_register_tokens
            else ""
        )
        return (
            f"{self.family}, hidden {self.hidden_size}, {self.num_hidden_layers} layers, "
            f"{self.num_attention_heads} heads, {ffn} {self.intermediate_size}, patch {self.patch_size}, "
            f"table {self.grid_size}x{self.grid_size}{regs}"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Dinov2Config:
        return dataclasses.replace(self, **changes)


# Where a file says what its shapes cannot: the architecture as JSON in the file's metadata (every
# file we write), and, never stored, where that JSON was read from (a config.json beside the file).
CONFIG_KEY = "vistamatch_config"
CONFIG_SOURCE_KEY = "vistamatch_config_source"
# The fields written with the weights; the shapes tell all of them but the last two.
STORED_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "intermediate_size",
    "patch_size",
    "image_size",
    "num_channels",
    "num_register_tokens",
    "use_swiglu_ffn",
    "num_attention_heads",
    "layer_norm_eps",
)
SHAPE_FIELDS = STORED_FIELDS[:-2]
TRANSFORMERS_MODEL_TYPES = ("dinov2", "dinov2_with_registers")
HEADS_ADVICE = (
    "pass it with --num-heads N (vistamatch index, search, serve, weights) or "
    "num_attention_heads=N (load_model), or store it in the file once with "
    "`vistamatch weights convert IN OUT --num-heads N`"
)


def stored_fields(config: Dinov2Config) -> dict[str, Any]:
    """The architecture as written with the weights (load-time options such as interpolation left out)."""
    return {name: getattr(config, name) for name in STORED_FIELDS}


def fields_from_transformers(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Our fields from a transformers Dinov2Config / Dinov2WithRegistersConfig (its config.json).
    transformers has no intermediate_size: the MLP width follows from mlp_ratio."""
    fields = _checked(
        {k: v for k, v in config.items() if k != "intermediate_size"}, source
    )
    swiglu = fields.get("use_swiglu_ffn", False)
    activation = config.get("hidden_act", "gelu")
    if not swiglu and activation != "gelu":  # SwiGLU always uses SiLU
        raise WeightsError(
            f"{source}: hidden_act {activation!r} is not supported (the model implements erf 'gelu')"
        )
    ratio = config.get("mlp_ratio")
    if ratio is not None and not _positive_number(ratio):
        raise WeightsError(f"{source}: mlp_ratio {ratio!r} is not a valid value")
    if ratio is not None and "hidden_size" in fields:
        width = int(fields["hidden_size"] * ratio)
        # transformers' Dinov2SwiGLUFFN: two thirds of the MLP width, rounded up to a multiple of 8
        fields["intermediate_size"] = (int(width * 2 / 3) + 7) // 8 * 8 if swiglu else width
    return fields


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _checked(fields: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Stored fields with the types Dinov2Config needs; a wrong one is an error naming `source`."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in STORED_FIELDS:
            continue  # fields of other tools or later versions
        if name == "use_swiglu_ffn":
            ok = isinstance(value, bool)
        elif name == "layer_norm_eps":
            ok = _positive_number(value)
        else:
            least = 0 if name == "num_register_tokens" else 1
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= least
        if not ok:
            raise WeightsError(f"{source}: {name} {value!r} is not a valid value")
        out[name] = float(value) if name == "layer_norm_eps" else value
    return out


def stored_config(metadata: Mapping[str, str] | None) -> tuple[dict[str, Any], str]:
    """(the architecture fields a file's metadata holds, where they were read from)."""
    metadata = metadata or {}
    source = metadata.get(CONFIG_SOURCE_KEY, "the weights file's metadata")
    if CONFIG_KEY not in metadata:
        return {}, source
    try:
        fields = json.loads(metadata[CONFIG_KEY])
    except ValueError as exc:
        raise WeightsError(f"{source}: {CONFIG_KEY} is not valid JSON ({exc})") from None
    if not isinstance(fields, dict):
        raise WeightsError(f"{source}: {CONFIG_KEY} is not a JSON object")
    return _checked(fields, source), source


def config_from_state_dict(
    state_dict: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Dinov2Config:
    """Read the architecture from released-name weights. The head count and the LayerNorm epsilon,
    which shapes cannot tell, come from overrides (None: not given), else the stored config (the
    file's metadata, or the config.json beside it); a file that does not say its head count is read
    as a released model (64-wide heads) only if its width is a released one, and refused otherwise.
    Every stored field the shapes tell must agree with them."""
    stored, source = stored_config(metadata)
    values = _fields_from_shapes(state_dict)
    _check_agreement(stored, values, source)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    heads = overrides.pop("num_attention_heads", None) or stored.get("num_attention_heads")
    if heads is None:
        hidden = values["hidden_size"]
        if hidden not in RELEASED_HEADS:
            raise WeightsError(
                f"the weights do not say their attention head count and their width {hidden} is not "
                f"a released DINOv2 width ({', '.join(map(str, RELEASED_HEADS))}, 64-wide heads): "
                + HEADS_ADVICE
            )
        heads = RELEASED_HEADS[hidden]
    values["num_attention_heads"] = heads
    values["layer_norm_eps"] = stored.get("layer_norm_eps", 1e-6)
    values.update(overrides)
    return Dinov2Config(**values)


def _check_agreement(stored: Mapping[str, Any], read: Mapping[str, Any], source: str) -> None:
    """A stored config that contradicts the shapes describes other weights: refuse, naming both."""
    patch = read["patch_size"]
    wrong = [
        f"{name} {stored[name]} where the weights have {read[name]}"
        for name in SHAPE_FIELDS
        if name in stored
        and (
            stored[name] // patch != read[name] // patch  # the same position table
            if name == "image_size"
            else stored[name] != read[name]
        )
    ]
    if wrong:
        raise WeightsError(f"{source} does not describe these weights: it says " + "; ".join(wrong))


def _fields_from_shapes(state_dict: Mapping[str, np.ndarray]) -> dict[str, Any]:
    try:
        cls = state_dict["embeddings.cls_token"]
        proj = state_dict["embeddings.patch_embeddings.projection.weight"]
        pos = state_dict["embeddings.position_embeddings"]
    except KeyError as exc:
        raise WeightsError(
            f"weights lack {exc.args[0]!r}: not a DINOv2 state dict"
        ) from None
    layer_ids = {
        int(m.group(1))
        for k in state_dict
        if (m := re.match(r"encoder\.layer\.(\d+)\.", k))
    }
    if not layer_ids:
        raise WeightsError("weights have no encoder.layer.N.* entries")
    mlp_in = sorted(
        k
        for k in state_dict
        if re.fullmatch(r"encoder\.layer\.\d+\.mlp\.(fc1|weights_in)\.weight", k)
    )
    if not mlp_in:
        raise WeightsError(
            "weights lack encoder.layer.N.mlp.fc1.weight (or mlp.weights_in.weight for SwiGLU)"
        )
    swiglu = mlp_in[0].endswith("weights_in.weight")
    grid = round((pos.shape[1] - 1) ** 0.5)
    if grid * grid != pos.shape[1] - 1:
        raise WeightsError(
            f"'embeddings.position_embeddings' has {pos.shape[1] - 1} patch entries, not a square grid"
        )
    patch = int(proj.shape[-1])
    registers = state_dict.get("embeddings.register_tokens")
    return {
        "hidden_size": int(cls.shape[-1]),
        "num_hidden_layers": max(layer_ids) + 1,
        "intermediate_size": int(state_dict[mlp_in[0]].shape[0]) // (2 if swiglu else 1),
        "patch_size": patch,
        "image_size": grid * patch,
        "num_channels": int(proj.shape[1]),
        "num_register_tokens": 0 if registers is None else int(registers.shape[1]),
        "use_swiglu_ffn": swiglu,
    }


def expected_shapes(config: Dinov2Config) -> dict[str, tuple[int, ...]]:
    """Released key name -> shape, for every tensor the model needs."""
    d, p, c, f = (
        config.hidden_size,
        config.patch_size,
        config.num_channels,
        config.intermediate_size,
    )
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.cls_token": (1, 1, d),
        "embeddings.position_embeddings": (1, config.grid_size**2 + 1, d),
        "embeddings.patch_embeddings.projection.weight": (d, c, p, p),
        "embeddings.patch_embeddings.projection.bias": (d,),
        "layernorm.weight": (d,),
        "layernorm.bias": (d,),
    }
    if config.num_register_tokens:
        shapes["embeddings.register_tokens"] = (1, config.num_register_tokens, d)
    for i in range(config.num_hidden_layers):
        pre = f"encoder.layer.{i}."
        for name in ("norm1", "norm2"):
            shapes[pre + name + ".weight"] = (d,)
            shapes[pre + name + ".bias"] = (d,)
        for name in ("query", "key", "value"):
            shapes[pre + f"attention.attention.{name}.weight"] = (d, d)
            shapes[pre + f"attention.attention.{name}.bias"] = (d,)
        shapes[pre + "attention.output.dense.weight"] = (d, d)
        shapes[pre + "attention.output.dense.bias"] = (d,)
        shapes[pre + "layer_scale1.lambda1"] = (d,)
        shapes[pre + "layer_scale2.lambda1"] = (d,)
        if config.use_swiglu_ffn:
            shapes[pre + "mlp.weights_in.weight"] = (2 * f, d)
            shapes[pre + "mlp.weights_in.bias"] = (2 * f,)
            shapes[pre + "mlp.weights_out.weight"] = (d, f)
            shapes[pre + "mlp.weights_out.bias"] = (d,)
        else:
            shapes[pre + "mlp.fc1.weight"] = (f, d)
            shapes[pre + "mlp.fc1.bias"] = (f,)
            shapes[pre + "mlp.fc2.weight"] = (d, f)
            shapes[pre + "mlp.fc2.bias"] = (d,)
    return shapes


# Tensors a released file may carry that the forward pass does not use.
OPTIONAL_KEYS = ("embeddings.mask_token",)


def check_state_dict(
    state_dict: Mapping[str, np.ndarray], config: Dinov2Config
) -> None:
    """Raise WeightsError naming every missing, misshaped or unexpected tensor."""
    expected = expected_shapes(config)
    missing = [k for k in expected if k not in state_dict]
    misshaped = [
        f"{k} {tuple(state_dict[k].shape)} (expected {shape})"
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != shape
    ]
    unexpected = [k for k in state_dict if k not in expected and k not in OPTIONAL_KEYS]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(_clip(missing)))
    if misshaped:
        problems.append("misshaped " + ", ".join(_clip(misshaped)))
    if unexpected:
        problems.append("unexpected " + ", ".join(_clip(unexpected)))
    if problems:
        raise WeightsError(
            f"weights do not fit DINOv2 ({config.describe()}): " + "; ".join(problems)
        )


def _clip(items: list[str], limit: int = 6) -> list[str]:
    return (
        items
        if len(items) <= limit
        else items[:limit] + [f"... {len(items) - limit} more"]
    )
