export function ErrorBox({ error }: { error: { code: string; message: string; hint: string } | null | undefined }) {
  if (!error) return null;
  return (
    <div role="alert" className="error-box">
      <strong>{error.code}</strong> {error.message}
      {error.hint && <p className="hint">{error.hint}</p>}
    </div>
  );
}
