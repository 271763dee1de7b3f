"""A launch-bound urgent task: GPT-2 decoding with a KV cache (transformers, random weights, fp16).

    from decoder import Decoder
    dec = Decoder("cuda")           # 12 layers, GPT-2 small's shape, weights from a fixed seed
    tokens = dec.step()             # one request: a 16-token prompt, then 16 greedy tokens

Each request runs the prompt through the model once (filling the cache), then generates one token
at a time, feeding each step's argmax back as the next input; the tokens stay on the GPU, so a
request is hundreds of tiny kernels launched from Python with CPU gaps between them and no
synchronisation until the caller's. Same interface as suite.Workload (step, reseed, spec.name),
so the benchmarks can use either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: GPT-2 small: 12 layers, 12 heads, 768 wide, the GPT-2 vocabulary.
LAYERS = 12
PROMPT_TOKENS = 16
NEW_TOKENS = 16
SEED = 20261207


@dataclass(frozen=True)
class DecoderSpec:
    """What suite.ModelSpec says of a model, for the decoder."""

    name: str = "gpt2_decode"
    batch: int = 1
    train: bool = False
    seed: int = SEED


class Decoder:
    """GPT-2 (fp16, KV cache, batch 1) built from a fixed seed; step() serves one request."""

    def __init__(self, device: str = "cuda") -> None:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel

        self.spec = DecoderSpec()
        self.torch = torch
        torch.manual_seed(self.spec.seed)
        config = GPT2Config(n_layer=LAYERS)
        self.model = GPT2LMHeadModel(config).half().to(device).eval()
        gen = torch.Generator().manual_seed(self.spec.seed + 1)
        self.prompt = torch.randint(0, config.vocab_size, (1, PROMPT_TOKENS), generator=gen).to(device)

    def reseed(self) -> None:
        """Nothing random runs in a request (greedy decoding, no dropout in eval mode)."""
        self.torch.manual_seed(self.spec.seed + 2)

    def step(self) -> Any:
        """One request: the prompt, then NEW_TOKENS - 1 more tokens; returns the NEW_TOKENS tokens
        (on the GPU; does not synchronise)."""
        torch = self.torch
        with torch.inference_mode():
            out = self.model(input_ids=self.prompt, use_cache=True)
            token = out.logits[:, -1:].argmax(dim=-1)
            tokens = [token]
            past = out.past_key_values
            for _ in range(NEW_TOKENS - 1):
                out = self.model(input_ids=token, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = out.logits[:, -1:].argmax(dim=-1)
                tokens.append(token)
            return torch.cat(tokens, dim=1)
