// Uploads a poster or artist image (`POST /api/v1/uploads`: the file itself is the
// body; the server checks it, strips its metadata and answers the URL to use).
import { useState } from "react";
import { api, unwrap } from "../api/client";
import { useLang } from "../i18n";
import { ProblemMessage } from "./ProblemMessage";

export function ImageUpload({ onUploaded }: { onUploaded: (url: string) => void }) {
  const { t } = useLang();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const upload = async (file: File) => {
    setBusy(true);
    setError(null);
    try {
      const r = await unwrap(
        api.POST("/api/v1/uploads", {
          body: file as unknown as number[],
          bodySerializer: (b: unknown) => b as BodyInit,
          headers: { "content-type": file.type || "application/octet-stream" },
        }),
      );
      onUploaded(r.url);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <label>
        {t("upload.image")}{" "}
        <input
          type="file"
          accept="image/jpeg,image/png,image/webp"
          disabled={busy}
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) void upload(f);
          }}
        />
      </label>
      {busy && <span role="status"> {t("upload.busy")}</span>}
      <ProblemMessage error={error} />
    </div>
  );
}
