/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, for editor tests.
 * Under CI=true a missing browser fails; elsewhere the suite is skipped with a message.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { packageRoot } from './node-red';
import { inCi } from './services';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const artifactsDir = join(packageRoot, 'test-artifacts');

export async function launchChromium(context: Mocha.Context): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    const message = `Chromium not found at ${CHROMIUM} (apt-get install chromium)`;
    if (inCi()) throw new Error(`${message}; CI=true requires it`);
    console.log(`      [skip] ${message}`);
    context.skip();
  }
  const { chromium } = await import('playwright-core');
  mkdirSync(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // This machine has no network beyond loopback: keep Chromium from trying.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
