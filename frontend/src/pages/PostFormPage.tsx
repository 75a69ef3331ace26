// `/community/write?artist=` and `/community/{id}/edit`: a post's title and plain-text
// body, with the server's field errors next to the fields.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { FieldMessage, ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";

export default function PostFormPage() {
  const { id } = useParams();
  const [params] = useSearchParams();
  const { t } = useLang();
  const navigate = useNavigate();
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [error, setError] = useState<unknown>(null);
  const existing = useQuery({
    queryKey: ["post", id, "edit"],
    enabled: !!id,
    queryFn: () => unwrap(api.GET("/api/v1/posts/{post_id}", { params: { path: { post_id: id ?? "" } } })),
  });
  useEffect(() => {
    if (existing.data) {
      setTitle(existing.data.title);
      setBody(existing.data.body);
    }
  }, [existing.data]);
  const submit = async () => {
    setError(null);
    try {
      const saved = id
        ? await unwrap(api.PATCH("/api/v1/posts/{post_id}", { params: { path: { post_id: id } }, body: { title, body } }))
        : await unwrap(
            api.POST("/api/v1/artists/{artist_id}/posts", {
              params: { path: { artist_id: params.get("artist") ?? "" } },
              body: { title, body },
            }),
          );
      await navigate(`/community/${saved.id}`);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section>
      <h1>{id ? t("community.edit") : t("community.write")}</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          {t("community.title")}
          <input value={title} maxLength={200} onChange={(e) => setTitle(e.target.value)} aria-describedby="err-title" />
        </label>
        <FieldMessage error={error} field="title" id="err-title" />
        <label>
          {t("community.body")}
          <textarea value={body} maxLength={10000} rows={10} onChange={(e) => setBody(e.target.value)} aria-describedby="err-body" />
        </label>
        <FieldMessage error={error} field="body" id="err-body" />
        <ProblemMessage error={error} />
        <button type="submit" className="primary">{t("community.publish")}</button>
      </form>
    </section>
  );
}
