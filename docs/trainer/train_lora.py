#!/usr/bin/env python3
"""LoRA supervised fine-tuning for Loop DM's FT_PROVIDER=vllm (TRL + PEFT).

TRAINER_COMMAND runs it with the export (conversational JSONL: {"messages": [...]}, assistant
turns with "weight": 0 are context only) and writes a PEFT adapter that vLLM loads at runtime:

  python3 /opt/trainer/train_lora.py --train-file {train_file} --base-model {base_model} \
      --output-dir {output_dir} --epochs {epochs}

Exit code 0 = success (the tuner then calls POST /v1/load_lora_adapter); anything else fails the
job, and the last output line becomes its error. It prints `trained_tokens=N` for the ledger.
"""
import argparse
import json

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer


def load_examples(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            msgs = json.loads(line)["messages"]
            # TRL trains on assistant turns; weight-0 turns stay as context, their text is not a target.
            rows.append({"messages": [{"role": m["role"], "content": m["content"]} for m in msgs]})
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train-file", required=True)
    p.add_argument("--base-model", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-seq-length", type=int, default=4096)
    p.add_argument("--lora-r", type=int, default=16)
    a = p.parse_args()

    rows = load_examples(a.train_file)
    tok = AutoTokenizer.from_pretrained(a.base_model)
    ds = Dataset.from_list(rows)
    cfg = SFTConfig(
        output_dir=a.output_dir,
        num_train_epochs=a.epochs,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=4,
        learning_rate=2e-4,
        lr_scheduler_type="cosine",
        warmup_ratio=0.03,
        logging_steps=10,
        save_strategy="no",
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        max_length=a.max_seq_length,
        assistant_only_loss=True,
        report_to=[],
    )
    lora = LoraConfig(
        r=a.lora_r,
        lora_alpha=2 * a.lora_r,
        lora_dropout=0.05,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(model=a.base_model, args=cfg, train_dataset=ds, processing_class=tok, peft_config=lora)
    trainer.train()
    # adapter_config.json + adapter_model.safetensors: what vLLM's load_lora_adapter expects.
    trainer.model.save_pretrained(a.output_dir)
    tok.save_pretrained(a.output_dir)
    tokens = sum(len(tok.apply_chat_template(r["messages"], tokenize=True)) for r in rows) * a.epochs
    print(f"trained_tokens={tokens}", flush=True)


if __name__ == "__main__":
    main()
