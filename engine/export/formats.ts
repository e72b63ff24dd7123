/** The export's lists, free of imports: `whetstone help` reads them without loading zod. Checked
 *  against the worker's by tests/fixtures/protocol/tables-v1.json. */
export const EXPORT_FORMATS = ["safetensors", "adapter", "gguf", "ollama", "onnx"] as const;
export const EXPORT_DTYPES = ["bfloat16", "float16", "float32"] as const;
export const GGUF_QUANTIZATIONS = ["f16", "q8_0", "f32"] as const;
/** What `whetstone push` uploads to the Hugging Face Hub: the formats people load from a hub repo. */
export const PUSH_FORMATS = ["safetensors", "adapter", "gguf"] as const;
