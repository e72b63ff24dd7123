/** The export formats as radio buttons, one line each in words: the export step's and the push panel's. */
const FORMAT_INFO: Record<string, string> = {
  safetensors: "Merged transformers folder (the adapter folded into the weights): vLLM, TGI, transformers.",
  adapter: "The LoRA adapter alone, in PEFT format: megabytes, needs the base model.",
  gguf: "One file for llama.cpp, Ollama and LM Studio.",
  ollama: "The GGUF file plus a Modelfile with the chat template translated for Ollama (checked to build the same prompts), stop strings and sampling defaults.",
  onnx: "ONNX with a KV cache, in the layout transformers.js loads.",
};

export function FormatChoice<F extends string>({ legend, name, formats, value, onChange }: { legend: string; name: string; formats: readonly F[]; value: F; onChange: (format: F) => void }) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {formats.map((f) => (
        <label key={f} className="choice">
          <input type="radio" name={name} value={f} checked={value === f} onChange={() => onChange(f)} />
          <span>
            <strong>{f}</strong> {FORMAT_INFO[f]}
          </span>
        </label>
      ))}
    </fieldset>
  );
}
