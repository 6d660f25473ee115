#!/usr/bin/env python3
"""Reference values for picobert's pretraining trainer, from transformers' BertForPreTraining.

    python3 tools/pretrain_reference.py generate      # writes tests/fixtures/pretrain/{init/,expected.safetensors}
    python3 tools/pretrain_reference.py check-export DIR
        # DIR is a checkpoint written by our trainer (tests/pretrain_parity.rs with
        # PICOBERT_PARITY_EXPORT=DIR). Loads it with BertForPreTraining.from_pretrained, runs the
        # fixture batch and writes tests/fixtures/pretrain/roundtrip.safetensors (transformers'
        # logits) and roundtrip.json with the largest difference from the logits our trainer saved in DIR.

Dropout is off. The optimiser is torch.optim.AdamW (betas 0.9/0.999, eps 1e-6, weight decay 0.01
except biases and LayerNorm), global-norm clipping at 1.0, and a linear warmup (3 steps) then
linear decay to 0 at step 10 (transformers' get_linear_schedule_with_warmup), as our trainer.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file, load_file
from transformers import BertConfig, BertForPreTraining

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "tests", "fixtures", "pretrain")

LR, WD, EPS, WARMUP, STEPS, CLIP = 1e-3, 0.01, 1e-6, 3, 10, 1.0


def config():
    return BertConfig(
        vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=64, type_vocab_size=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        attn_implementation="eager",
    )


def batch():
    g = torch.Generator().manual_seed(1234)
    b, t = 4, 32
    ids = torch.randint(5, 1000, (b, t), generator=g)
    lengths = [32, 27, 20, 31]
    mask = torch.zeros(b, t, dtype=torch.long)
    types = torch.zeros(b, t, dtype=torch.long)
    labels = torch.full((b, t), -100, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = 0
        ids[i, 0] = 2  # [CLS]-like
        types[i, n // 2:n] = 1
        # ~15% of the real non-special positions, at least one
        k = max(1, int(0.15 * (n - 1)))
        pos = torch.randperm(n - 1, generator=g)[:k] + 1
        labels[i, pos] = ids[i, pos]
        ids[i, pos] = 4  # [MASK]-like
    nsp = torch.tensor([0, 1, 1, 0])
    return dict(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels,
                next_sentence_label=nsp)


def no_decay(name):
    return name.endswith("bias") or "LayerNorm" in name


def lr_lambda(step):
    if step < WARMUP:
        return step / max(1, WARMUP)
    return max(0.0, (STEPS - step) / max(1, STEPS - WARMUP))


def generate():
    torch.manual_seed(0)
    model = BertForPreTraining(config())
    with torch.no_grad():
        g = torch.Generator().manual_seed(7)
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    model.train()  # dropout probabilities are 0, so train mode is deterministic
    model.save_pretrained(os.path.join(FIX, "init"))
    b = batch()
    out = {}
    for k, v in b.items():
        out["batch." + k] = v.to(torch.int64).contiguous()

    res = model(**b)
    # transformers' total_loss = MLM + NSP; recompute the parts for the record.
    mlm = torch.nn.functional.cross_entropy(
        res.prediction_logits.view(-1, 1000), b["labels"].view(-1), ignore_index=-100)
    nsp = torch.nn.functional.cross_entropy(res.seq_relationship_logits, b["next_sentence_label"])
    res.loss.backward()
    out["loss"] = res.loss.detach().reshape(1).double()
    out["mlm_loss"] = mlm.detach().reshape(1).double()
    out["nsp_loss"] = nsp.detach().reshape(1).double()
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.detach().clone().contiguous()

    groups = [
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": WD},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.999), eps=EPS)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        r = model(**b)
        r.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        sched.step()
        losses.append(r.loss.item())
    out["losses"] = torch.tensor(losses, dtype=torch.float64)
    for name, p in model.named_parameters():
        out["step10." + name] = p.detach().clone().contiguous()
    save_file(out, os.path.join(FIX, "expected.safetensors"))
    print("loss", res.loss.item(), "losses", losses)


def check_export(d):
    model = BertForPreTraining.from_pretrained(d, attn_implementation="eager")
    model.eval()
    b = batch()
    with torch.no_grad():
        res = model(input_ids=b["input_ids"], token_type_ids=b["token_type_ids"],
                    attention_mask=b["attention_mask"])
    sel = b["labels"] != -100
    mlm = res.prediction_logits[sel].contiguous()  # masked rows, row-major (b, t) order
    nsp = res.seq_relationship_logits.contiguous()
    ours = load_file(os.path.join(d, "our_logits.safetensors"))
    dm = (mlm - ours["mlm_logits"]).abs().max().item()
    dn = (nsp - ours["nsp_logits"]).abs().max().item()
    save_file({"mlm_logits": mlm, "nsp_logits": nsp},
              os.path.join(FIX, "roundtrip.safetensors"))
    result = {"max_abs_diff_mlm_logits": dm, "max_abs_diff_nsp_logits": dn,
              "mlm_rows": mlm.shape[0], "vocab": mlm.shape[1]}
    with open(os.path.join(FIX, "roundtrip.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "generate":
        generate()
    elif len(sys.argv) == 3 and sys.argv[1] == "check-export":
        check_export(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
