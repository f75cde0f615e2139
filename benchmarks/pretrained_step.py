"""The hand-built encoder against transformers' BertModel on the same pretrained weights: a fine-tuning step and
frozen-feature throughput.

    python -m benchmarks.pretrained_step                     # all-MiniLM-L6-v2 ("minilm"), B=32 T=256 (~4 min)
    python -m benchmarks.pretrained_step --batch 16 --repeats 3

Both models hold the same weights (networks.pretrained.load_bert copies BertModel's into the lab's
TransformerEncoder). A fine-tuning step is forward, a loss on the hidden states of the real tokens, backward
and AdamW over every parameter, in training mode (the checkpoint's dropout on). Frozen features are a forward
in evaluation mode without autograd, counted in reviews per second. The batch is right-padded, its lengths
spread over T/2 … T, every row [CLS] … [SEP] around random word pieces. The cases run interleaved in this
process (A, B, C, A, B, C, …); each figure is the median of the repeats, as a ratio to BertModel with its
default sdpa attention.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import Tensor, nn

from benchmarks.timing import add_thread_argument, apply_threads, interleaved_medians, machine_line, markdown_table
from lightning_modules import allocator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm", help="a BERT hub name, save_pretrained folder or pinned short name")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5, help="timed runs per case")
    p.add_argument("--warmup", type=int, default=1)
    add_thread_argument(p)
    return p.parse_args(argv)


def padded_batch(batch: int, seq_len: int, vocab_size: int, cls_id: int, sep_id: int) -> tuple[Tensor, Tensor]:
    """Token ids (B, T) and the padding mask (B, T), True = real token; padding id 0."""
    lengths = torch.randint(seq_len // 2, seq_len + 1, (batch,))
    mask = torch.arange(seq_len)[None, :] < lengths[:, None]
    ids = torch.randint(1000, vocab_size, (batch, seq_len)).masked_fill_(~mask, 0)
    ids[:, 0] = cls_id
    ids[torch.arange(batch), lengths - 1] = sep_id
    return ids, mask


def build_models(name: str) -> tuple[dict[str, Callable[[Tensor, Tensor], Tensor]], list[nn.Module], object]:
    """The three encoders as functions (ids, mask) → hidden states (B, T, D), their modules, BertModel's config."""
    from transformers import BertModel

    from networks.hub import resolve_pretrained
    from networks.pretrained import load_bert

    theirs = resolve_pretrained(name, ("bert",)).load(BertModel, add_pooling_layer=False, attn_implementation="sdpa")
    manual, fused = load_bert(theirs), load_bert(theirs)
    for block in fused.blocks:
        block.attn.attn_impl = "sdpa"
    encoders = {
        "BertModel (transformers, sdpa)": lambda ids, mask: theirs(ids, attention_mask=mask.long()).last_hidden_state,
        'hand-built, attn_impl="manual"': manual,
        'hand-built, attn_impl="sdpa"': fused,
    }
    return encoders, [theirs, manual, fused], theirs.config


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    apply_threads(args.threads)
    torch.manual_seed(0)
    encoders, modules, config = build_models(args.model)
    vocab = config.vocab_size
    ids, mask = padded_batch(args.batch, args.seq_len, vocab, cls_id=101 if vocab > 102 else 1, sep_id=102 % vocab)
    weights = torch.randn(config.hidden_size)  # the loss: a fixed projection of the real tokens' states

    def fine_tuning_step(encode, module: nn.Module) -> Callable[[], None]:
        optimizer = torch.optim.AdamW(module.parameters(), lr=2e-5)

        def step() -> None:
            module.train()
            loss = (encode(ids, mask)[mask] @ weights).square().mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    def frozen_forward(encode, module: nn.Module) -> Callable[[], None]:
        def forward() -> None:
            module.eval()
            with torch.no_grad():
                encode(ids, mask)

        return forward

    pairs = list(zip(encoders.items(), modules, strict=True))
    steps = interleaved_medians({name: fine_tuning_step(fn, m) for (name, fn), m in pairs}, args.repeats, args.warmup)
    frozen = interleaved_medians({name: frozen_forward(fn, m) for (name, fn), m in pairs}, args.repeats, args.warmup)
    reference = next(iter(encoders))
    padded = int((~mask).sum())
    print(
        f"{args.model}: {config.num_hidden_layers} layers, width {config.hidden_size}, {config.num_attention_heads} "
        f"heads; B={args.batch} T={args.seq_len} ({padded} padded positions); median of {args.repeats}"
    )
    print(f"{machine_line()}; allocator: {allocator.describe()}\n")
    rows = [
        [
            name,
            f"{steps[name]:.2f}",
            steps[name] / steps[reference],
            f"{args.batch / frozen[name]:.1f}",
            frozen[name] / frozen[reference],
        ]
        for name in encoders
    ]
    header = ["encoder", "fine-tuning step s", "× BertModel", "frozen reviews/s", "frozen × BertModel time"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    allocator.tune_allocator()  # large tensors stay on the heap, as in train.py
    main()
