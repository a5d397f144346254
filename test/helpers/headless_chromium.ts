/**
 * A real headless browser for tests: Debian's Chromium (`/usr/bin/chromium`, from
 * `apt-get install chromium`; `.ci/run` installs it) driven through playwright-core, which
 * brings no browser of its own. Each launch gets a fresh profile in a temp folder, removed on
 * close, and flags that keep Chromium off the network: this machine's network is closed, and
 * without them Chromium's background connections are refused and slow it down.
 */
import { constants } from "node:fs";
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian's `chromium` package puts the browser. */
export const chromiumPath = "/usr/bin/chromium";

/** What to run when {@linkcode chromiumPath} is missing. */
export const chromiumInstallCommand =
  "apt-get update && apt-get install -y --no-install-recommends chromium";

const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Options for {@linkcode launchChromium}. */
export interface LaunchChromiumOptions {
  /** The page size in CSS pixels; default 1280 × 900. */
  viewport?: { width: number; height: number };
}

/** A running headless Chromium with one page open. */
export interface HeadlessChromium {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Closes the browser and removes its profile folder; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Launches Chromium; rejects with how to install it when it is missing, rather than letting a
 * test pass without a browser.
 */
export async function launchChromium(
  options: LaunchChromiumOptions = {},
): Promise<HeadlessChromium> {
  await access(chromiumPath, constants.X_OK).catch((error: NodeJS.ErrnoException) => {
    throw new Error(
      `Cannot start the browser test: ${chromiumPath} is missing (${error.code}). ` +
        `Install Debian's Chromium with \`${chromiumInstallCommand}\` (as root); ` +
        "CI's .ci/run does this itself.",
    );
  });
  const profileDir = await mkdtemp(join(tmpdir(), "bigfs-chromium-"));
  const removeProfile = () => rm(profileDir, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: options.viewport ?? { width: 1280, height: 900 },
      timeout: 30_000,
    });
  } catch (error) {
    await removeProfile();
    throw new Error(`Cannot launch ${chromiumPath}: ${(error as Error).message}`);
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= context
      .close()
      .catch(() => {})
      .then(removeProfile);
    return closing;
  };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    return { context, page, close };
  } catch (error) {
    await close();
    throw error;
  }
}
