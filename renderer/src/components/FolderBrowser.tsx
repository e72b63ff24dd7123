/**
 * Choose a folder where the page has no native dialog (the browser build): the engine lists one
 * folder's sub-folders at a time (listFolders: home, Hugging Face cache, mounted volumes only);
 * model folders are marked, and "Use this folder" picks the one shown.
 */
import { useEffect, useState } from "react";
import { errorInfo, useClient } from "../client/context";
import type { ApiOutput } from "../../../engine/api/contract";
import { ErrorBox } from "./ErrorBox";

type Listing = ApiOutput<"listFolders">;

export function FolderBrowser({ start, onPick, onClose }: { start: string | null; onPick: (path: string) => void; onClose: () => void }) {
  const client = useClient();
  const [listing, setListing] = useState<Listing | null>(null);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const open = (path?: string) =>
    client.listFolders(path ? { path } : {}).then(
      (l) => (setListing(l), setError(null)),
      (e) => setError(errorInfo(e)),
    );
  useEffect(() => {
    // Start where the field points when that is browsable, else at home.
    client.listFolders(start ? { path: start } : {}).then(setListing, () => void open());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <div className="folder-browser" role="dialog" aria-label="Choose a folder">
      <div className="row">
        {listing?.roots.map((r) => (
          <button type="button" key={r.path} onClick={() => open(r.path)}>
            {r.label}
          </button>
        ))}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorBox error={error} />
      {listing && (
        <>
          <p>
            <code data-testid="browse-path">{listing.path}</code> {listing.model && <span className="badge">{listing.model}</span>}
          </p>
          <ul className="folders" aria-label="Folders">
            {listing.parent && (
              <li>
                <button type="button" className="link" onClick={() => open(listing.parent!)}>
                  ↑ Up
                </button>
              </li>
            )}
            {listing.folders.map((f) => (
              <li key={f.path}>
                <button type="button" className="link" onClick={() => open(f.path)}>
                  📁 {f.name}
                </button>
                {f.model && <span className="badge">{f.model}</span>}
              </li>
            ))}
            {listing.folders.length === 0 && <li className="muted">No folders here.</li>}
            {listing.truncated && <li className="muted">More folders than shown: type the path instead.</li>}
          </ul>
          <button type="button" className="primary" onClick={() => onPick(listing.path)}>
            Use this folder
          </button>
        </>
      )}
    </div>
  );
}
