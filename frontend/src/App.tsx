// Routes (the URLs are part of the product: the edge sends admitted fans to
// `/events/{id}/enter`, Toss returns to `/payment/success`), the layout, and the
// guards. Only the events list is in the first bundle; every other page loads on
// demand.
import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import {
  BrowserRouter,
  Link,
  NavLink,
  Navigate,
  Route,
  Routes,
  useLocation,
} from "react-router";
import { AuthProvider, useAuth, type Role } from "./api/auth";
import { onRateLimited } from "./api/client";
import i18n, { useLang } from "./i18n";
import { EventsPage } from "./pages/EventsPage";

const EventPage = lazy(() => import("./pages/EventPage"));
const QueuePage = lazy(() => import("./pages/QueuePage"));
const SeatsPage = lazy(() => import("./pages/SeatsPage"));
const BookPage = lazy(() => import("./pages/BookPage"));
const CheckoutPage = lazy(() => import("./pages/CheckoutPage"));
const PaymentSuccessPage = lazy(() => import("./pages/PaymentSuccessPage"));
const PaymentFailPage = lazy(() => import("./pages/PaymentFailPage"));
const MyReservationsPage = lazy(() => import("./pages/MyReservationsPage"));
const MyTicketsPage = lazy(() => import("./pages/MyTicketsPage"));
const MyPaymentsPage = lazy(() => import("./pages/MyPaymentsPage"));
const LoginPage = lazy(() => import("./pages/LoginPage"));
const RegisterPage = lazy(() => import("./pages/RegisterPage"));
const PromoterPage = lazy(() => import("./pages/PromoterPage"));
const EventFormPage = lazy(() => import("./pages/EventFormPage"));
const RulesEditorPage = lazy(() => import("./pages/RulesEditorPage"));
const AdminPage = lazy(() => import("./pages/AdminPage"));
const AdminReservationsPage = lazy(() => import("./pages/AdminReservationsPage"));
const ArtistsPage = lazy(() => import("./pages/ArtistsPage"));
const ArtistPage = lazy(() => import("./pages/ArtistPage"));
const MyMembershipsPage = lazy(() => import("./pages/MyMembershipsPage"));
const TransfersPage = lazy(() => import("./pages/TransfersPage"));
const MyListingsPage = lazy(() => import("./pages/MyListingsPage"));
const PayoutsPage = lazy(() => import("./pages/PayoutsPage"));
const CommunityPage = lazy(() => import("./pages/CommunityPage"));
const PostPage = lazy(() => import("./pages/PostPage"));
const PostFormPage = lazy(() => import("./pages/PostFormPage"));
const NewsPage = lazy(() => import("./pages/NewsPage"));
const AdminUsersPage = lazy(() => import("./pages/AdminUsersPage"));
const AdminStatsPage = lazy(() => import("./pages/AdminStatsPage"));
const AdminAuditPage = lazy(() => import("./pages/AdminAuditPage"));
const EventDashboardPage = lazy(() => import("./pages/EventDashboardPage"));
const DoorPage = lazy(() => import("./pages/DoorPage"));

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false, staleTime: 5_000 } },
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <BrowserRouter>
          <Layout>
            <Suspense fallback={<Loading />}>
              <Routes>
                <Route path="/" element={<EventsPage />} />
                <Route path="/events/:id" element={<EventPage />} />
                <Route path="/events/:id/enter" element={<Guard><QueuePage edge /></Guard>} />
                <Route path="/events/:id/queue" element={<Guard><QueuePage /></Guard>} />
                <Route path="/events/:id/seats" element={<Guard><SeatsPage /></Guard>} />
                <Route path="/events/:id/book" element={<Guard><BookPage /></Guard>} />
                <Route path="/checkout/:id" element={<Guard><CheckoutPage /></Guard>} />
                <Route path="/payment/success" element={<Guard><PaymentSuccessPage /></Guard>} />
                <Route path="/payment/fail" element={<Guard><PaymentFailPage /></Guard>} />
                <Route path="/me/reservations" element={<Guard><MyReservationsPage /></Guard>} />
                <Route path="/me/tickets" element={<Guard><MyTicketsPage /></Guard>} />
                <Route path="/me/payments" element={<Guard><MyPaymentsPage /></Guard>} />
                <Route path="/me/memberships" element={<Guard><MyMembershipsPage /></Guard>} />
                <Route path="/me/payouts" element={<Guard><PayoutsPage /></Guard>} />
                <Route path="/artists" element={<ArtistsPage />} />
                <Route path="/artists/:id" element={<ArtistPage />} />
                <Route path="/transfers" element={<TransfersPage />} />
                <Route path="/transfers/my" element={<Guard><MyListingsPage /></Guard>} />
                <Route path="/community" element={<CommunityPage />} />
                <Route path="/community/write" element={<Guard><PostFormPage /></Guard>} />
                <Route path="/community/:id" element={<PostPage />} />
                <Route path="/community/:id/edit" element={<Guard><PostFormPage /></Guard>} />
                <Route path="/news" element={<NewsPage />} />
                <Route path="/login" element={<LoginPage />} />
                <Route path="/register" element={<RegisterPage />} />
                <Route path="/promoter" element={<Guard roles={["promoter", "admin"]}><PromoterPage /></Guard>} />
                <Route path="/promoter/events/new" element={<Guard roles={["promoter", "admin"]}><EventFormPage /></Guard>} />
                <Route path="/promoter/events/:id/edit" element={<Guard roles={["promoter", "admin"]}><EventFormPage /></Guard>} />
                <Route path="/promoter/events/:id/rules" element={<Guard roles={["promoter", "admin"]}><RulesEditorPage /></Guard>} />
                <Route path="/promoter/events/:id/dashboard" element={<Guard roles={["promoter", "admin"]}><EventDashboardPage /></Guard>} />
                <Route path="/admin" element={<Guard roles={["admin"]}><AdminPage /></Guard>} />
                <Route path="/admin/reservations" element={<Guard roles={["admin"]}><AdminReservationsPage /></Guard>} />
                <Route path="/admin/payouts" element={<Guard roles={["admin"]}><PayoutsPage admin /></Guard>} />
                <Route path="/admin/users" element={<Guard roles={["admin"]}><AdminUsersPage /></Guard>} />
                <Route path="/door" element={<Guard roles={["staff", "promoter", "admin"]}><DoorPage /></Guard>} />
                <Route path="/admin/stats" element={<Guard roles={["admin"]}><AdminStatsPage /></Guard>} />
                <Route path="/admin/audit" element={<Guard roles={["admin"]}><AdminAuditPage /></Guard>} />
                <Route path="*" element={<NotFound />} />
              </Routes>
            </Suspense>
          </Layout>
        </BrowserRouter>
      </AuthProvider>
    </QueryClientProvider>
  );
}

function Loading() {
  const { t } = useLang();
  return <p className="muted" role="status">{t("common.loading")}</p>;
}

function NotFound() {
  const { t } = useLang();
  return (
    <section>
      <h1>{t("common.notFound")}</h1>
      <Link to="/">{t("nav.events")}</Link>
    </section>
  );
}

/**
 * Pages that need an account: anonymous visitors go to the login page (and come back);
 * with `roles`, everyone else goes home (the API refuses them too).
 */
export function Guard({ roles, children }: { roles?: Role[]; children: ReactNode }) {
  const { user, ready, hasRole } = useAuth();
  const location = useLocation();
  if (!ready) return <Loading />;
  if (!user) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  if (roles && !hasRole(...roles)) return <Navigate to="/" replace />;
  return <>{children}</>;
}

function Layout({ children }: { children: ReactNode }) {
  const { t, lang } = useLang();
  const { user, hasRole, logout } = useAuth();
  const [limited, setLimited] = useState<number | null>(null);
  useEffect(
    () =>
      onRateLimited((seconds) => {
        setLimited(seconds);
        setTimeout(() => setLimited(null), seconds * 1000);
      }),
    [],
  );
  const other = lang === "ko" ? "en" : "ko";
  return (
    <>
      <a className="skip" href="#main">{t("nav.skip")}</a>
      <header className="top">
        <Link to="/" className="logo" aria-label="URR">URR</Link>
        <nav aria-label={t("nav.main")}>
          <NavLink to="/" end>{t("nav.events")}</NavLink>
          <NavLink to="/artists">{t("nav.artists")}</NavLink>
          <NavLink to="/transfers">{t("nav.transfers")}</NavLink>
          <NavLink to="/community">{t("nav.community")}</NavLink>
          <NavLink to="/news">{t("nav.news")}</NavLink>
          {user && <NavLink to="/me/reservations">{t("nav.reservations")}</NavLink>}
          {user && <NavLink to="/me/tickets">{t("nav.tickets")}</NavLink>}
          {user && <NavLink to="/me/memberships">{t("nav.memberships")}</NavLink>}
          {user && <NavLink to="/me/payments">{t("nav.payments")}</NavLink>}
          {hasRole("promoter", "admin") && <NavLink to="/promoter">{t("nav.promoter")}</NavLink>}
          {hasRole("staff") && <NavLink to="/door">{t("nav.door")}</NavLink>}
          {hasRole("admin") && <NavLink to="/admin">{t("nav.admin")}</NavLink>}
        </nav>
        <div className="account">
          <button
            type="button"
            className="link"
            lang={other}
            onClick={() => void i18n.changeLanguage(other)}
          >
            {other === "en" ? "English" : "한국어"}
          </button>
          {user ? (
            <>
              <span className="muted">{user.display_name}</span>
              <button type="button" className="link" onClick={() => void logout()}>
                {t("nav.logout")}
              </button>
            </>
          ) : (
            <NavLink to="/login">{t("nav.login")}</NavLink>
          )}
        </div>
      </header>
      {limited !== null && (
        <p className="banner warn" role="alert">{t("errors.RATE_LIMITED_WAIT", { seconds: limited })}</p>
      )}
      <main id="main">{children}</main>
      <footer className="muted">URR · {t("footer.note")}</footer>
    </>
  );
}
