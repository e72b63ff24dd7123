/** One templated sample: trained tokens highlighted, goldfish-dropped tokens struck through. */
import type { SamplePreview } from "../../../engine/api/public";

export function TokenPreview({ preview }: { preview: SamplePreview }) {
  return (
    <div className="token-preview">
      <p className="muted">
        {preview.length} tokens, {preview.trained_tokens} trained
        {preview.goldfish ? `, ${preview.goldfish.dropped_tokens ?? "≈1/" + preview.goldfish.k} dropped by goldfish (${preview.goldfish.variant}, k ${preview.goldfish.k})` : ""}
        {preview.template_source ? ` · template ${preview.template_source}` : ""}
        {preview.dropped ? ` · left out of training: ${preview.dropped.replaceAll("_", " ")}` : ""}
      </p>
      <pre aria-label="Templated sample">
        {preview.tokens.map((t, i) => (
          <span key={i} className={t.dropped ? "tok dropped" : t.trained ? "tok trained" : "tok"} title={`id ${t.id}${t.trained ? ", trained" : ""}${t.dropped ? ", dropped by goldfish" : ""}`}>
            {t.text}
          </span>
        ))}
      </pre>
      <p className="legend-row">
        <span className="tok">prompt (not trained)</span> <span className="tok trained">trained</span> <span className="tok dropped">dropped by goldfish</span>
      </p>
    </div>
  );
}
