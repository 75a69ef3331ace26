// Shared steps of the browser tests. The platform under test is the whole stack that
// `cargo xtask e2e` starts (origin with demo data, Toss fake, the edge in front); the
// browser only ever talks to the edge, like a fan.
import { expect, type Page, type APIRequestContext, request } from "@playwright/test";

export const PASSWORD = process.env.URR_E2E_PASSWORD ?? "urr-demo-1234";
export const ORIGIN = process.env.URR_E2E_ORIGIN_URL ?? "http://127.0.0.1:8080";

const id = (n: number) => `de770000-0000-4000-8000-000000000${n.toString(16)}`;
export const EVENTS = {
  stadium: id(0x201),
  standing: id(0x203),
  edgeQueued: id(0x207),
  originQueued: id(0x208),
  /** IU's member presale: DIAMOND and GOLD book now, everyone else in two days. */
  memberPresale: id(0x209),
};

/** Logs in through the login page and waits until the app shows the account. */
export async function logIn(page: Page, email: string, next = "/"): Promise<void> {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel(/이메일|Email/).fill(email);
  await page.getByLabel(/비밀번호|Password/).fill(PASSWORD);
  await page.getByRole("button", { name: /^(로그인|Log in)$/ }).click();
  await expect(page.getByRole("button", { name: /로그아웃|Log out/ })).toBeVisible();
}

/** An API client logged in as `email`, for setting up or checking state directly. */
export async function apiAs(email: string): Promise<{ api: APIRequestContext; token: string }> {
  const api = await request.newContext({ baseURL: ORIGIN });
  const res = await api.post("/api/v1/auth/login", { data: { email, password: PASSWORD } });
  expect(res.status()).toBe(200);
  const token = (await res.json()).access_token as string;
  return { api, token };
}

/** Pays on the Toss fake's widget page and waits for the success page's tickets. */
export async function payInFakeWidget(page: Page): Promise<void> {
  await expect(page).toHaveURL(/__test\/widget/);
  await page.getByRole("button", { name: /결제하기 \/ Pay/ }).click();
  await expect(page).toHaveURL(/\/payment\/success/);
  await expect(page.getByRole("heading", { name: /결제 완료|Payment complete/ })).toBeVisible();
}
