"""The baseline of the trainer benchmark: plain transformers Trainer + PEFT LoRA, as tutorials set it up.

Model loaded with from_pretrained and the default attention (SDPA), get_peft_model with the same
LoRA config, right-padded micro-batches from DataCollatorForSeq2Seq (labels padded with -100), the
Trainer's default AdamW and gradient clipping, bf16 autocast on GPU. It trains on the samples our
recipe tokenized (same chat template, same assistant-only labels), so the two differ only in how a
step is computed. `batches` fixes the exact samples of each micro-batch (the parity test feeds ours);
without it the Trainer's own seeded random sampler draws them, as in a tutorial.

Per step we record the loss (the sum of the micro-batches' returned losses: the Trainer passes the
step's trained-token count to the model, so each is sum/num_items and they add up to the step's
per-token mean, our recipe's definition), the wall time at the end of the step (after a CUDA sync)
and the real (non-padding) and padded tokens of its micro-batches.

With `trl_padding_free`, the same run goes through TRL's SFTTrainer with padding_free=True (each
micro-batch flattened into one row with restarting position ids; TRL's defaults otherwise, its
chunked NLL loss included) on the same pre-tokenized samples and labels, FlashAttention 2 when
installed (TRL's requirement for padding-free), else SDPA, which transformers 5 keeps per-sample
from the position ids when no mask is given.
"""

from __future__ import annotations

import time

import torch

from whetstone_worker.data.batches import sample_labels
from whetstone_worker.data.chat import IGNORE, Sample


class _Rows(torch.utils.data.Dataset):
    def __init__(self, samples: list[Sample]):
        self.rows = [{"input_ids": s.ids.astype("int64").tolist(), "labels": sample_labels(s).tolist()} for s in samples]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def run_hf_trainer(model_path: str, tokenizer, samples: list[Sample], *, micro_batch: int, accumulation: int, steps: int,
                   lr: float, seed: int, lora, bf16: bool, max_grad_norm: float = 1.0, scheduler: str = "constant",
                   batches: list[list[int]] | None = None, out_dir: str, gradient_checkpointing: bool = False,
                   on_step=lambda step: None, trl_padding_free: bool = False) -> dict:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments, set_seed
    from transformers.utils import is_flash_attn_2_available

    set_seed(seed)
    dtype = torch.bfloat16 if bf16 else torch.float32
    flash = trl_padding_free and torch.cuda.is_available() and is_flash_attn_2_available()
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **({"attn_implementation": "flash_attention_2"} if flash else {}))
    model.config.use_cache = False
    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                                             task_type="CAUSAL_LM"))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    record = {"losses": [], "step_end_s": [], "step_end_cpu_s": [], "real_tokens": [], "padded_tokens": [], "micro_losses": []}
    micro_real, micro_padded = [], []

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    class Timing(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            sync()
            record["start_s"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            record["step_end_s"].append(time.perf_counter())
            record["step_end_cpu_s"].append(time.process_time())
            k = len(record["losses"])
            record["losses"].append(sum(record["micro_losses"][k * accumulation:(k + 1) * accumulation]))
            record["real_tokens"].append(sum(micro_real[k * accumulation:(k + 1) * accumulation]))
            record["padded_tokens"].append(sum(micro_padded[k * accumulation:(k + 1) * accumulation]))
            on_step(k + 1)

    if trl_padding_free:
        from trl import SFTConfig, SFTTrainer

        base_class, config_class = SFTTrainer, SFTConfig
    else:
        base_class, config_class = Trainer, TrainingArguments

    class BaselineTrainer(base_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # Padded batches carry an attention mask; a padding-free row is all real tokens.
            mask = inputs.get("attention_mask")
            micro_real.append(int(mask.sum()) if mask is not None else inputs["input_ids"].numel())
            micro_padded.append(inputs["input_ids"].numel())
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            record["micro_losses"].append(float((out[0] if return_outputs else out).detach()))
            return out

        def get_train_dataloader(self):
            if batches is None:
                return super().get_train_dataloader()
            return torch.utils.data.DataLoader(self.train_dataset, batch_sampler=batches, collate_fn=self.data_collator)

    extra = {"padding_free": True, "max_length": None, "dataset_num_proc": None} if trl_padding_free else {}
    args = config_class(
        output_dir=out_dir, per_device_train_batch_size=micro_batch, gradient_accumulation_steps=accumulation, max_steps=steps,
        learning_rate=lr, lr_scheduler_type=scheduler, warmup_steps=0, weight_decay=0.0, max_grad_norm=max_grad_norm,
        bf16=bf16, logging_steps=1, save_strategy="no", report_to=[], seed=seed, data_seed=seed, dataloader_num_workers=0,
        remove_unused_columns=False, use_cpu=not torch.cuda.is_available(), gradient_checkpointing=gradient_checkpointing,
        disable_tqdm=True, **extra,
    )
    if trl_padding_free:
        from datasets import Dataset

        data = Dataset.from_list(_Rows(samples).rows)
        trainer = BaselineTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[Timing()])
    else:
        collate = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE)
        trainer = BaselineTrainer(model=model, args=args, train_dataset=_Rows(samples), data_collator=collate, callbacks=[Timing()])
    trainer.train()
    record["model"] = trainer.model
    return record
