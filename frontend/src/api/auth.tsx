// The session: restored once from the refresh cookie when the app starts, then kept in
// memory. Components read it with `useAuth()`.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { api, refreshSession, setAccessToken, unwrap, type Schemas } from "./client";

export type User = Schemas["UserProfile"];
export type Role = "fan" | "promoter" | "staff" | "admin";

interface AuthState {
  user: User | null;
  ready: boolean;
  login(email: string, password: string): Promise<User>;
  register(body: Schemas["RegisterRequest"]): Promise<User>;
  google(credential: string): Promise<User>;
  logout(): Promise<void>;
  hasRole(...roles: Role[]): boolean;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let live = true;
    (async () => {
      const token = await refreshSession();
      if (token && live) {
        try {
          const me = await unwrap(api.GET("/api/v1/me"));
          if (live) setUser(me);
        } catch {
          setAccessToken(null);
        }
      }
      if (live) setReady(true);
    })();
    return () => {
      live = false;
    };
  }, []);

  const start = useCallback((session: Schemas["TokenResponse"]) => {
    setAccessToken(session.access_token);
    setUser(session.user);
    return session.user;
  }, []);

  const value = useMemo<AuthState>(
    () => ({
      user,
      ready,
      login: async (email, password) =>
        start(await unwrap(api.POST("/api/v1/auth/login", { body: { email, password } }))),
      register: async (body) => start(await unwrap(api.POST("/api/v1/auth/register", { body }))),
      google: async (credential) =>
        start(await unwrap(api.POST("/api/v1/auth/google", { body: { credential } }))),
      logout: async () => {
        await fetch("/api/v1/auth/logout", { method: "POST", credentials: "include" });
        setAccessToken(null);
        setUser(null);
      },
      hasRole: (...roles) => !!user && roles.includes(user.role as Role),
    }),
    [user, ready, start],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside AuthProvider");
  return ctx;
}
