import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import i18n from "./i18n";

// The fans are Korean: components are tested in the default language.
void i18n.changeLanguage("ko");
afterEach(cleanup);
