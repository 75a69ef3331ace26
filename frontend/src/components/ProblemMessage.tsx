// A problem+json error in the fan's language: the translation of its `code` when we
// have one, else the server's own `detail` (English), never a raw status.
import { ApiError } from "../api/client";
import { useLang } from "../i18n";

export function useProblemText() {
  const { t } = useLang();
  return (error: unknown): string => {
    if (error instanceof ApiError) {
      return t(`errors.${error.code}`, { defaultValue: error.problem.detail || error.code });
    }
    return t("errors.NETWORK");
  };
}

export function ProblemMessage({ error }: { error: unknown }) {
  const text = useProblemText();
  if (!error) return null;
  return (
    <p className="banner error" role="alert">
      {text(error)}
    </p>
  );
}

/** The server's message for one field, shown under it. */
export function FieldMessage({ error, field, id }: { error: unknown; field: string; id: string }) {
  const message = error instanceof ApiError ? error.field(field) : undefined;
  if (!message) return null;
  return (
    <span className="field-error" id={id} role="alert">
      {message}
    </span>
  );
}
