"""The field report's model suite (torchvision, random weights), shared by tests and benchmarks.

Fourteen workloads: ten models for inference at batch 1, two training workloads (three-step
SGD runs in the tests, one step per request in the benchmarks), and two larger-batch inference
runs. Nothing is downloaded: every model is built with ``weights=None`` from a fixed seed.

    from suite import SUITE, QUICK, spec_by_name, Workload, set_deterministic
    set_deterministic_env()         # before importing torch, where bitwise results matter
    import torch
    set_deterministic(torch)
    wl = Workload(spec_by_name("resnet50"), "cuda")
    out = wl.step()                 # inference: the output; training: the loss (one SGD step)

torch and torchvision are imported inside functions, so importing this module is cheap.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

#: Batch size of the two training workloads.
TRAIN_BATCH = 8
#: Input resolution of every workload.
IMAGE_SIZE = 224


@dataclass(frozen=True)
class ModelSpec:
    """One workload of the suite."""

    name: str  # unique name; also the result file name (<name>.npy)
    arch: str  # torchvision.models builder
    batch: int = 1
    train: bool = False
    kwargs: tuple[tuple[str, Any], ...] = ()  # extra builder arguments

    @property
    def seed(self) -> int:
        """A fixed seed derived from the name (stable across Python runs, unlike hash())."""
        return zlib.crc32(self.name.encode()) & 0x7FFFFFFF


SUITE: list[ModelSpec] = [
    ModelSpec("resnet50", "resnet50"),
    ModelSpec("resnet18", "resnet18"),
    ModelSpec("mobilenet_v2", "mobilenet_v2"),
    ModelSpec("efficientnet_b0", "efficientnet_b0"),
    ModelSpec("vit_b_16", "vit_b_16"),
    ModelSpec("densenet121", "densenet121"),
    ModelSpec("vgg16", "vgg16"),
    ModelSpec("squeezenet1_1", "squeezenet1_1"),
    ModelSpec("alexnet", "alexnet"),
    # Without pretrained weights GoogLeNet defaults to auxiliary classifiers and warns about
    # init_weights; ask for neither (in eval mode it returns a plain tensor either way).
    ModelSpec("googlenet", "googlenet", kwargs=(("aux_logits", False), ("init_weights", True))),
    ModelSpec("resnet18_train", "resnet18", batch=TRAIN_BATCH, train=True),
    ModelSpec("mobilenet_v2_train", "mobilenet_v2", batch=TRAIN_BATCH, train=True),
    ModelSpec("resnet50_bs32", "resnet50", batch=32),
    ModelSpec("efficientnet_b0_bs16", "efficientnet_b0", batch=16),
]

#: Workloads of the benchmarks only, not of the model suite's tests: ResNet-50 training at batch 64,
#: the low task beside the decoder (bench/priority --pair decode).
BENCH_ONLY: list[ModelSpec] = [
    ModelSpec("resnet50_train_bs64", "resnet50", batch=64, train=True),
]

#: A small subset for quick runs: small and large CNNs, a transformer, and a training step.
QUICK: list[str] = ["resnet18", "resnet50", "mobilenet_v2", "vit_b_16", "resnet18_train"]


def spec_by_name(name: str) -> ModelSpec:
    """The suite's (or BENCH_ONLY's) entry called `name` (KeyError with the valid names otherwise)."""
    for spec in SUITE + BENCH_ONLY:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown model {name!r}; known: {', '.join(s.name for s in SUITE + BENCH_ONLY)}")


def select(names: str | None, quick: bool = False) -> list[ModelSpec]:
    """Parse a comma-separated list of names ("all" or None: the whole suite; quick: QUICK)."""
    if names and names != "all":
        return [spec_by_name(n.strip()) for n in names.split(",") if n.strip()]
    if quick:
        return [spec_by_name(n) for n in QUICK]
    return list(SUITE)


def set_deterministic_env() -> None:
    """Set the environment that cuBLAS needs for deterministic results; call before importing torch."""
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"


def set_deterministic(torch: Any) -> None:
    """Deterministic algorithms, no cuDNN autotuning, no TF32.

    Operations without a deterministic implementation (for instance adaptive average pooling's
    backward pass, used by the training workloads) warn instead of failing (warn_only=True);
    their results are still compared bit for bit, and the pooling to 1x1 used here takes the
    non-atomic path.
    """
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8"):
        raise RuntimeError("call set_deterministic_env() before importing torch")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True, warn_only=True)


class Workload:
    """A built model with its fixed input, ready to run steps on `device`.

    The model's weights come from torch.manual_seed(spec.seed) on the CPU, and its input from a
    CPU generator with the same seed, so two processes build identical workloads.
    """

    def __init__(self, spec: ModelSpec, device: str = "cuda") -> None:
        import torch
        import torchvision

        self.spec = spec
        self.torch = torch
        torch.manual_seed(spec.seed)  # seeds the CPU and every CUDA generator
        builder = getattr(torchvision.models, spec.arch)
        model = builder(weights=None, **dict(spec.kwargs))
        gen = torch.Generator().manual_seed(spec.seed + 1)
        x = torch.randn(spec.batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
        self.model = model.to(device)
        self.x = x.to(device)
        self.opt = None
        self.onehot = None
        if spec.train:
            target = torch.randint(0, 1000, (spec.batch,), generator=gen)
            # One-hot on the CPU: scatter on the GPU has no deterministic kernel.
            self.onehot = torch.nn.functional.one_hot(target, 1000).float().to(device)
            self.model.train()
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        else:
            self.model.eval()

    def reseed(self) -> None:
        """Reset the random generators (dropout in training uses the CUDA generator)."""
        self.torch.manual_seed(self.spec.seed + 2)

    def step(self) -> Any:
        """Inference: the model's output. Training: one SGD step; returns the loss (detached).

        Does not synchronise: the caller decides when to wait for the GPU.
        """
        torch = self.torch
        if self.opt is None:
            with torch.inference_mode():
                return self.model(self.x)
        self.opt.zero_grad(set_to_none=True)
        out = self.model(self.x)
        # Cross-entropy from elementwise operations and reductions only (deterministic).
        loss = -(torch.log_softmax(out, dim=1) * self.onehot).sum(dim=1).mean()
        loss.backward()
        self.opt.step()
        return loss.detach()

    def flat_state(self) -> Any:
        """Every floating-point parameter and buffer, flattened into one float32 CPU tensor."""
        torch = self.torch
        parts = [t.detach().reshape(-1).float().cpu() for t in self.model.state_dict().values()
                 if t.is_floating_point()]
        return torch.cat(parts)


def import_torch_for_gpu() -> Any:
    """Sets the deterministic environment, imports torch and makes it deterministic.

    Returns torch, or None after printing why the GPU tests must be skipped
    (torch or torchvision missing, or no usable GPU).
    """
    set_deterministic_env()  # before torch is imported
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as exc:
        print(f"SKIP: torch/torchvision not importable ({exc})")
        return None
    if not torch.cuda.is_available():
        print("SKIP: torch.cuda.is_available() is False (no GPU or no driver)")
        return None
    set_deterministic(torch)
    return torch
