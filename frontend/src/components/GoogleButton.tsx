// Google sign-in (Google Identity Services), shown only when the server has a client
// id. The ID token must carry a one-time nonce from the server, so a captured token
// cannot be replayed.
import { useEffect, useRef, useState } from "react";
import { useAuth } from "../api/auth";
import { api, unwrap } from "../api/client";
import { ProblemMessage } from "./ProblemMessage";

interface GoogleId {
  initialize(o: { client_id: string; nonce: string; callback(r: { credential: string }): void }): void;
  renderButton(el: HTMLElement, o: Record<string, string>): void;
}
declare global {
  interface Window {
    google?: { accounts: { id: GoogleId } };
  }
}

function loadScript(): Promise<void> {
  return new Promise((resolve, reject) => {
    if (window.google) return resolve();
    const s = document.createElement("script");
    s.src = "https://accounts.google.com/gsi/client";
    s.async = true;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error("Google sign-in could not load"));
    document.head.appendChild(s);
  });
}

export function GoogleButton({ clientId, onDone }: { clientId: string; onDone(): void }) {
  const el = useRef<HTMLDivElement>(null);
  const { google } = useAuth();
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        await loadScript();
        const { nonce } = await unwrap(api.POST("/api/v1/auth/google/nonce"));
        if (!live || !el.current || !window.google) return;
        window.google.accounts.id.initialize({
          client_id: clientId,
          nonce,
          callback: ({ credential }) => {
            google(credential).then(onDone, setError);
          },
        });
        window.google.accounts.id.renderButton(el.current, { theme: "outline", size: "large" });
      } catch (e) {
        if (live) setError(e);
      }
    })();
    return () => {
      live = false;
    };
  }, [clientId, google, onDone]);
  return (
    <>
      <div ref={el} className="google" />
      <ProblemMessage error={error} />
    </>
  );
}
