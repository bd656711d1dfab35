"""`vistamatch weights fetch/convert/info` and resolve_weights, all offline: a closed port, HF_HUB_OFFLINE,
and a local stand-in for the hub on 127.0.0.1 (HF_ENDPOINT)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from vistamatch.errors import WeightsError
from vistamatch.model import (
    Dinov2,
    Dinov2Config,
    load_model,
    random_state_dict,
    read_weights,
    resolve_weights,
)
from vistamatch.model.keys import detect_style

from .parity_cases import parity_input

X = parity_input(1, 56, 84)


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "HF_HOME": str(cwd / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **env,
    }
    if "HF_HUB_OFFLINE" not in env:
        full_env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run(
        [sys.executable, "-m", "vistamatch", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the tests look at the exit status
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.parametrize("env", ["offline", "unreachable"])
def test_fetch_fails_fast_with_one_readable_line(tmp_path, env):
    extra = (
        {"HF_HUB_OFFLINE": "1"}
        if env == "offline"
        else {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    )
    start = time.monotonic()
    result = run_cli(
        ["weights", "fetch", "--model", "dinov2-small", "--out", "w/small.npz"],
        extra,
        tmp_path,
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "facebook/dinov2-small" in line
    assert "vistamatch weights fetch --model dinov2-small" in line
    assert str((tmp_path / "w" / "small.npz").resolve()) in line
    if env == "unreachable":
        assert extra["HF_ENDPOINT"] in line
    assert elapsed < 30  # startup included; huggingface_hub alone would retry for ~25 s
    assert not (tmp_path / "w" / "small.npz").exists()


class FakeHub(BaseHTTPRequestHandler):
    """Serves files at /<repo>/resolve/<revision>/<name> like the hub's plain (non-xet) downloads."""

    files: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def _send(self, with_body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        name = self.path.split("?")[0]
        parts = name.strip("/").split("/")
        body = (
            self.files.get("/".join(parts[:2]) + "/" + parts[-1])
            if len(parts) >= 5
            else None
        )
        if body is None or parts[2] != "resolve":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self):
        self._send(False)

    def do_GET(self):
        self._send(True)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub(tmp_path):
    """A local hub holding facebook/dinov2-small as small random weights (released names, no metadata)."""
    from safetensors.numpy import save

    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    weights = random_state_dict(config, seed=4)
    FakeHub.files = {
        "facebook/dinov2-small/model.safetensors": save(dict(weights)),
        "facebook/dinov2-small/config.json": json.dumps(
            {  # as the hub's: transformers' Dinov2Config fields, no intermediate_size
                "model_type": "dinov2",
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "mlp_ratio": 2,
                "hidden_act": "gelu",
                "layer_norm_eps": 1e-6,
                "image_size": 518,
                "patch_size": 14,
                "use_swiglu_ffn": False,
            }
        ).encode(),
    }
    FakeHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", weights
    server.shutdown()
    server.server_close()


def test_fetch_from_a_mirror_writes_npz_and_sha256(tmp_path, fake_hub):
    endpoint, weights = fake_hub
    result = run_cli(
        ["weights", "fetch", "--model", "dinov2-small", "--out", "small.npz"],
        {"HF_ENDPOINT": endpoint},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "small.npz"
    assert any("model.safetensors" in r for r in FakeHub.requests)
    stored = read_weights(out)
    assert detect_style(list(stored)) == "released"
    assert json.loads(stored.metadata["vistamatch_config"])["num_attention_heads"] == 2
    digest, name = (tmp_path / "small.npz.sha256").read_text().split()
    assert (
        name == "small.npz" and digest == hashlib.sha256(out.read_bytes()).hexdigest()
    )
    np.testing.assert_array_equal(load_model(out)(X), Dinov2(weights)(X))
    # the second fetch comes from huggingface_hub's cache: no new download
    FakeHub.requests.clear()
    again = run_cli(
        ["weights", "fetch", "--model", "dinov2-small", "--out", "again.npz"],
        {"HF_ENDPOINT": endpoint},
        tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert not any(r.startswith("GET") for r in FakeHub.requests)
    assert (tmp_path / "again.npz").read_bytes() == out.read_bytes()


def test_convert_between_formats_and_styles(tmp_path, tiny_weights):
    fb = tmp_path / "fb.safetensors"
    result = run_cli(
        [
            "weights",
            "convert",
            str(tiny_weights),
            str(fb),
            "--style",
            "facebookresearch",
        ],
        {},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "facebookresearch names" in result.stdout
    assert detect_style(list(read_weights(fb))) == "facebookresearch"
    back = tmp_path / "back.npz"
    assert (
        run_cli(["weights", "convert", str(fb), str(back)], {}, tmp_path).returncode
        == 0
    )
    assert detect_style(list(read_weights(back))) == "released"
    assert load_model(back).fingerprint == load_model(tiny_weights).fingerprint
    info = run_cli(["weights", "info", str(back)], {}, tmp_path)
    assert info.returncode == 0 and load_model(tiny_weights).fingerprint in info.stdout
    assert "hidden 32, 2 layers, 2 heads" in info.stdout


def test_convert_refuses_a_broken_file(tmp_path, tiny_config):
    from vistamatch.model import save_weights

    sd = random_state_dict(tiny_config)
    del sd["layernorm.bias"]
    save_weights(sd, tmp_path / "broken.npz")
    result = run_cli(
        ["weights", "convert", "broken.npz", "out.safetensors"], {}, tmp_path
    )
    assert result.returncode == 2
    assert (
        "layernorm.bias" in result.stderr
        and not (tmp_path / "out.safetensors").exists()
    )


def test_every_weights_help_has_an_example(tmp_path):
    for args in (
        ["weights"],
        ["weights", "fetch"],
        ["weights", "convert"],
        ["weights", "info"],
    ):
        result = run_cli([*args, "--help"], {}, tmp_path)
        assert result.returncode == 0
        assert "vistamatch weights" in result.stdout.split("example")[-1], args


def test_resolve_weights_returns_an_existing_file(tiny_weights):
    assert resolve_weights(tiny_weights) == tiny_weights


def test_resolve_weights_names_the_command_for_a_missing_file(tmp_path):
    with pytest.raises(WeightsError) as info:
        resolve_weights(tmp_path / "elsewhere.npz")
    assert "vistamatch weights fetch --model dinov2-base --out" in str(info.value)
    assert "elsewhere.npz" in str(info.value)


def test_resolve_weights_fetches_the_default_file(tmp_path, monkeypatch, fake_hub):
    from huggingface_hub import constants

    endpoint, weights = fake_hub
    monkeypatch.setenv("WEIGHTS_PATH", str(tmp_path / "default-small.npz"))
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    # the default weights file of a non-default model is vit-<name>.npz in the working folder
    monkeypatch.chdir(tmp_path)
    path = resolve_weights("dinov2-small")
    assert path == Path("vit-dinov2-small.npz") and path.is_file()
    np.testing.assert_array_equal(load_model(path)(X), Dinov2(weights)(X))


def test_resolve_weights_offline_default_is_a_readable_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("WEIGHTS_PATH", str(tmp_path / "vit-dinov2-base.npz"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="offline .*facebook/dinov2-base"):
        resolve_weights()


def test_every_command_that_loads_weights_takes_num_heads(tmp_path, photo_gallery, tiny_config, capsys):
    """Weights of a non-released width that do not say their heads: refused, naming --num-heads; given it, they work."""
    from vistamatch.cli import main
    from vistamatch.model import save_weights
    from vistamatch.server import Settings, load_engine

    plain = tmp_path / "plain.npz"
    save_weights(dict(random_state_dict(tiny_config)), plain)  # no metadata: 32 wide, 2 heads unknown
    files = ["--features", str(tmp_path / "f.npy"), "--mapping", str(tmp_path / "m.npy")]
    query = next(photo_gallery.glob("*.jpg"))
    commands = [
        ["weights", "info", str(plain)],
        ["weights", "convert", str(plain), str(tmp_path / "told.npz")],
        ["index", str(photo_gallery), "--weights", str(plain), *files, "--quiet"],
        ["search", str(query), "--weights", str(plain), *files],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        assert "--num-heads" in capsys.readouterr().err, argv
        assert main([*argv, "--num-heads", "2"]) == 0, argv
        assert "2 heads" in capsys.readouterr().out or argv[0] != "weights", argv
    assert load_model(tmp_path / "told.npz").config.num_attention_heads == 2

    # serve: the option reaches the settings, the settings reach the model
    from vistamatch.cli import build_parser
    from vistamatch.cli.serve import _overrides
    from vistamatch.server.settings import MB

    serve_args = build_parser().parse_args(["serve", "--weights", str(plain), "--num-heads", "2"])
    heads = _overrides(serve_args, MB)["num_attention_heads"]
    served = Settings.for_folder(photo_gallery, tmp_path / "served", plain)
    with pytest.raises(WeightsError, match="--num-heads"):
        load_engine(served)
    engine = load_engine(dataclasses.replace(served, num_attention_heads=heads))
    assert engine.engine.embedder.config.num_attention_heads == 2
