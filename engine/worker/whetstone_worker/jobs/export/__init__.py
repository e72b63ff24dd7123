"""The `export` command: the trained model in the formats other tools load.

- safetensors: the LoRA adapter folded into the base weights, as a transformers model folder
  (sharded safetensors + index, config, generation config, tokenizer, chat template);
- adapter: the PEFT adapter alone;
- gguf: one file for llama.cpp / Ollama (Llama, Mistral, Qwen2 layouts; f32, f16, q8_0);
- ollama: the gguf file plus a Modelfile whose TEMPLATE is the chat template translated to Go's
  text/template and proven to render the same prompts;
- onnx: onnx/model.onnx with a KV cache, in the folder layout transformers.js loads.

Every export carries a model card (README.md) built from the facts the engine sends. job.py runs
the checks and the staging; source.py folds the adapter in; one module per format writes the files.
The job is imported when it runs: the push command renders its card with card.py, without torch.
"""


def run(job_id, command, emitter, cancelled):
    from .job import run as export

    return export(job_id, command, emitter, cancelled)


__all__ = ["run"]
