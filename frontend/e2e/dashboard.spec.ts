// The promoter's live dashboard: its figures move while fans buy (scripted through the
// API and the Toss fake, as a sale would run), and the waiting room is paused and
// resumed from it.
import { test, expect } from "@playwright/test";
import { EVENTS, apiAs, logIn } from "./support";

const TOSS = process.env.URR_E2E_TOSS_URL ?? "http://127.0.0.1:8089";

/** One fan buys one standing ticket of `event` without a browser. */
async function buyByApi(email: string, event: string, ticketType: string) {
  const { api, token } = await apiAs(email);
  const auth = { authorization: `Bearer ${token}` };
  const held = await api.post(`/api/v1/events/${event}/reservations`, {
    headers: auth,
    data: { items: [{ ticket_type_id: ticketType, quantity: 1 }] },
  });
  expect(held.status(), await held.text()).toBe(201);
  const order = (await held.json()).order as { order_id: string; amount: number };
  const authorized = await api.post(`${TOSS}/v1/__test/authorize`, {
    data: { orderId: order.order_id, amount: order.amount },
  });
  expect(authorized.status()).toBe(200);
  const paymentKey = (await authorized.json()).paymentKey as string;
  const paid = await api.post("/api/v1/payments/confirm", {
    headers: auth,
    data: { paymentKey, orderId: order.order_id, amount: order.amount },
  });
  expect(paid.status(), await paid.text()).toBe(200);
  await api.dispose();
}

const figure = async (page: import("@playwright/test").Page, id: string) =>
  Number(((await page.getByTestId(id).textContent()) ?? "").replace(/[^0-9]/g, ""));

test("the dashboard's figures move while fans buy", async ({ page }) => {
  const { api } = await apiAs("promoter@urr.local");
  const detail = await (await api.get(`/api/v1/events/${EVENTS.standing}`)).json();
  const types = detail.ticket_types as { id: string; available_quantity: number }[];
  const type = types.filter((t) => t.available_quantity > 10).at(-1)!;

  await logIn(page, "promoter@urr.local");
  await page.goto("/promoter");
  await page
    .getByRole("row")
    .filter({ hasText: detail.title })
    .getByRole("link", { name: "대시보드" })
    .click();
  await expect(page.getByRole("heading", { name: `실시간 판매: ${detail.title}` })).toBeVisible();
  await expect(page.getByText(/실시간 · /)).toBeVisible();
  await expect(page.getByText("이 공연에는 대기실이 없습니다.")).toBeVisible();
  const soldBefore = await figure(page, "tickets-sold");
  const availableBefore = await figure(page, "available");

  // The sale: three fans, one after another; the tiles follow each purchase.
  const fans = ["fan3@urr.local", "fan4@urr.local", "fan7@urr.local"];
  for (const [i, fan] of fans.entries()) {
    await buyByApi(fan, EVENTS.standing, type.id);
    await expect.poll(() => figure(page, "tickets-sold")).toBe(soldBefore + i + 1);
  }
  await expect.poll(() => figure(page, "available")).toBe(availableBefore - fans.length);
  // The chart's accessible summary carries the last minute's sales.
  await expect(page.getByRole("img", { name: /분당 판매 및 선점 티켓: 판매 [1-9]/ })).toBeVisible();
});

test("the promoter pauses and resumes a waiting room from the dashboard", async ({ page }) => {
  await logIn(page, "promoter@urr.local");
  await page.goto(`/promoter/events/${EVENTS.originQueued}/dashboard`);
  const room = page.getByRole("region", { name: "대기실" });
  await expect(room.getByTestId("room-state")).toHaveText("입장 중");
  await room.getByRole("button", { name: "입장 일시 정지" }).click();
  await expect(room.getByRole("status")).toContainText("입장을 일시 정지했습니다");
  await expect(room.getByTestId("room-state")).toHaveText("일시 정지");
  await room.getByRole("button", { name: "입장 재개" }).click();
  await expect(room.getByRole("status")).toContainText("입장을 재개했습니다");
  await expect(room.getByTestId("room-state")).toHaveText("입장 중");

  // Both are on the record.
  await page.context().clearCookies();
  await logIn(page, "admin@urr.local");
  await page.goto(`/admin/audit`);
  await page.getByLabel("대상").fill(`event:${EVENTS.originQueued}`);
  await page.getByRole("button", { name: "검색" }).click();
  const rows = page.getByRole("row");
  await expect(rows.nth(1)).toContainText("event.room_resumed");
  await expect(rows.nth(2)).toContainText("event.room_paused");
});
