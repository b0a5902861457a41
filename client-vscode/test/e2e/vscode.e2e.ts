/**
 * codeseek in a real VS Code (code-server + headless Chromium): search from the palette,
 * open the right result at the right line, related code in hovers with working links, a
 * workspace whose root shadows the standard library, and a multi-root workspace.
 * Screenshots go to test-artifacts/vscode-e2e/.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import {
  cursorLine,
  findTools,
  FIXTURE,
  addFolderToWorkspace,
  openFile,
  openVSCode,
  runCommand,
  screenshot,
  SECOND_FOLDER,
  type Session,
  SHADOWING,
  codeseekStatusItem,
  statusBarChunks,
  waitForIndex,
  writeWorkspaceSettings,
} from './harness';

/** First model load and indexing on a 2-core machine take a while. */
const INDEX_TIMEOUT_MS = 180_000;

function lineOf(file: string, text: string): number {
  const lines = readFileSync(join(FIXTURE, file), 'utf8').split('\n');
  const index = lines.findIndex((line) => line.includes(text));
  if (index < 0) {
    throw new Error(`${text} not in ${file}`);
  }
  return index + 1;
}

const tools = findTools();
if (typeof tools === 'string') {
  throw new Error(`The VS Code end-to-end suite cannot run: ${tools}`);
}

/**
 * Skip a test that cannot apply here, saying why; under CI=true fail instead: CI sets up
 * everything these tests need, so a skip there means the set-up broke.
 */
function skipOrFail(context: TestContext, reason: string): void {
  if (process.env.CI === 'true') {
    throw new Error(`${reason}; under CI=true a test of a real client may not skip`);
  }
  context.skip(reason);
}

/** Type a query into the open search box and wait for a result row holding `expected`. */
async function searchFor(session: Session, query: string, expected: string): Promise<void> {
  const { page } = session;
  await runCommand(page, 'codeseek: Search');
  await expect.poll(() => page.locator('.quick-input-title').innerText()).toContain('codeseek: Search');
  await page.locator('.quick-input-widget input').pressSequentially(query, { delay: 5 });
  await page.locator('.quick-input-list .monaco-list-row', { hasText: expected }).first().waitFor({ timeout: 30_000 });
}

describe('codeseek in VS Code', () => {
  let session: Session;
  /** The other tests need an index; without one they skip (fail under CI), and the first test says why. */
  let indexed = false;
  const requireIndex = (context: TestContext): void => {
    if (!indexed) {
      skipOrFail(context, 'the workspace was not indexed (see the first test)');
    }
  };

  beforeAll(async () => {
    session = await openVSCode(tools);
  });

  afterAll(async () => {
    await session?.close();
  });

  it('indexes the workspace and shows the chunk count and model in the status bar', async () => {
    try {
      const text = await waitForIndex(session, INDEX_TIMEOUT_MS);
      expect(text).toMatch(/[1-9][\d,]* chunks · \S+/);
      indexed = true;
    } finally {
      await screenshot(session.page, '01-indexed');
    }
  });

  it('searches from the palette and opens the chosen result at its line', async (context) => {
    requireIndex(context);
    const { page } = session;
    await runCommand(page, 'codeseek: Search');
    const input = page.locator('.quick-input-widget input');
    await expect.poll(() => page.locator('.quick-input-title').innerText()).toContain('codeseek: Search');
    await input.pressSequentially('turn a time span like 1h30m into a number of seconds', { delay: 5 });

    const result = page.locator('.quick-input-list .monaco-list-row', { hasText: 'parse_duration' }).first();
    await result.waitFor({ timeout: 30_000 });
    await expect(result.innerText()).resolves.toContain('durations.py:');
    // The stub beside it is folded into the implementation's row, not a row of its own.
    await expect(result.innerText()).resolves.toContain('also declared in durations.pyi:3');
    await screenshot(page, '02-search-results');

    await result.click();
    await page.locator('.tab.active', { hasText: 'durations.py' }).waitFor();
    await expect.poll(() => cursorLine(page)).toBe(lineOf('shop/durations.py', 'def parse_duration'));
    await screenshot(page, '03-search-opened');
  });

  it('works in a workspace whose root holds types.py, logging.py, json.py and codeseek.py', async (context) => {
    requireIndex(context);
    // `python -m codeseek serve` started in this workspace would import these instead of
    // the standard library (or codeseek) and die; the extension starts it elsewhere.
    const shadows = ['types.py', 'logging.py', 'json.py', 'codeseek.py'];
    for (const name of shadows) {
      expect(readFileSync(join(session.workspace, name), 'utf8')).toBe(readFileSync(join(SHADOWING, name), 'utf8'));
    }
    const { page } = session;
    await searchFor(session, 'contacts whose name or email address contains the text', 'codeseek.py:');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'codeseek.py:' }).first();
    await expect(row.innerText()).resolves.toContain('find_contacts');
    await screenshot(page, '03b-shadowing-workspace-search');
    await page.keyboard.press('Escape');
  });

  it('switches the search mode with the button in the search box', async (context) => {
    requireIndex(context);
    const { page } = session;
    await runCommand(page, 'codeseek: Search');
    const title = page.locator('.quick-input-title');
    await expect.poll(() => title.innerText()).toContain('(hybrid)');
    await page.locator('.quick-input-titlebar .action-label[aria-label*="Mode: hybrid"]').click();
    await expect.poll(() => title.innerText()).toContain('(semantic)');
    await page.locator('.quick-input-widget input').pressSequentially('slugify', { delay: 5 });
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'slugify' }).first().waitFor({ timeout: 30_000 });
    await screenshot(page, '04-search-semantic');
    await page.keyboard.press('Escape');
  });

  it('shows related code in a hover, and its links open the code', async (context) => {
    requireIndex(context);
    const { page } = session;
    await openFile(page, 'billing.py');
    const name = page.locator('.monaco-editor .view-line span span', { hasText: /^invoice_total$/ }).first();
    await name.waitFor();

    const hover = page.locator('.monaco-hover', { hasText: 'Related code' });
    try {
      // Hover again if the first one came before the server answered.
      await expect
        .poll(
          async () => {
            await page.mouse.move(0, 0);
            await name.hover();
            return hover.waitFor({ timeout: 5_000 }).then(
              () => true,
              () => false,
            );
          },
          { timeout: 60_000, interval: 500 },
        )
        .toBe(true);
      // Let the hover finish fading in before the picture.
      await hover.locator('a[data-href]').first().waitFor();
      await page.waitForTimeout(300);
    } finally {
      await screenshot(page, '05-hover-related');
    }

    const link = hover.locator('a[data-href]').first();
    const href = await link.getAttribute('data-href');
    const target = /\/([^/#]+)#L(\d+)/.exec(decodeURIComponent(href ?? ''));
    expect(target, `a file link with a line fragment, got ${href}`).not.toBeNull();
    const [, file, line] = target as RegExpExecArray;
    await link.click();
    await page.locator('.tab.active', { hasText: file }).waitFor();
    await expect.poll(() => cursorLine(page)).toBe(Number(line));
    await screenshot(page, '06-hover-link-opened');
  });

  it('finds code related to the cursor and opens the chosen one', async (context) => {
    requireIndex(context);
    const { page } = session;
    await openFile(page, 'durations.py');
    await page.keyboard.press('Control+G');
    await page.locator('.quick-input-widget input').fill(`:${lineOf('shop/durations.py', 'def parse_duration') + 2}`);
    await page.keyboard.press('Enter');
    await runCommand(page, 'codeseek: Find Related Code');
    await expect.poll(() => page.locator('.quick-input-title').innerText()).toContain('Related to shop/durations.py');
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await rows.first().waitFor({ timeout: 30_000 });
    // The chunk under the cursor is never its own related code.
    await expect(page.locator('.quick-input-list').innerText()).resolves.not.toMatch(/parse_duration\s/);
    await screenshot(page, '07-related');
    const description = await rows.first().locator('.label-description').innerText();
    // `shop/durations.py:18 • also declared in durations.pyi:4`: the row's own place is the first.
    const place = description.split(' • ').find((part) => /:\d+$/.test(part.trim())) ?? '';
    const [, file, line] = /([^/\s]+):(\d+)$/.exec(place.trim()) ?? [];
    await rows.first().click();
    await page.locator('.tab.active', { hasText: file }).waitFor();
    await expect.poll(() => cursorLine(page)).toBe(Number(line));
  });

  it('serves a folder added to the workspace: searches both and shows the folder of each result', async (context) => {
    requireIndex(context);
    const { page } = session;
    const before = await statusBarChunks(page);
    const second = join(session.root, 'timekeeping');
    await cp(SECOND_FOLDER, second, { recursive: true });
    await addFolderToWorkspace(page, second);
    // Both folders indexed: more chunks than before, and the spinner gone.
    await expect.poll(() => statusBarChunks(page), { timeout: INDEX_TIMEOUT_MS, interval: 500 }).toBeGreaterThan(before ?? 0);
    try {
      await searchFor(session, 'turn a time span like 1h30m into a number of seconds', 'timekeeping •');
      const rows = page.locator('.quick-input-list .monaco-list-row');
      await expect(rows.filter({ hasText: 'parseTimeout' }).first().innerText()).resolves.toContain(
        'timekeeping • timeouts.ts:',
      );
      await expect(rows.filter({ hasText: 'parse_duration' }).first().innerText()).resolves.toContain(
        'workspace • shop/durations.py:',
      );
    } finally {
      await screenshot(page, '08-multi-root-search');
    }
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'parseTimeout' }).first();
    const [, line] = /timeouts\.ts:(\d+)/.exec(await row.innerText()) ?? [];
    await row.click();
    await page.locator('.tab.active', { hasText: 'timeouts.ts' }).waitFor();
    await expect.poll(() => cursorLine(page)).toBe(Number(line));
  });

  it('says how to install codeseek when the interpreter lacks it', async (context) => {
    const { page, workspaceFile } = session;
    const bare = '/usr/bin/python3';
    try {
      execFileSync(bare, ['-c', 'import codeseek'], { stdio: 'ignore', cwd: '/' });
      skipOrFail(context, `${bare} has codeseek installed, so there is no missing install to show`);
      return;
    } catch {
      // Expected: codeseek is not importable there.
    }
    await writeWorkspaceSettings(workspaceFile, { 'codeseek.pythonPath': bare });
    const notice = page.locator('.notification-toast', { hasText: 'codeseek is not installed' });
    await notice.waitFor({ timeout: 30_000 });
    await expect(notice.innerText()).resolves.toContain(`${bare} -m pip install codeseek-lsp`);
    await codeseekStatusItem(page).locator('.codicon-error').waitFor();
    await screenshot(page, '09-not-installed');
    await notice.locator('.monaco-button', { hasText: 'Copy Install Command' }).click();
    await expect
      .poll(() => page.evaluate<string>('navigator.clipboard.readText()'))
      .toBe(`${bare} -m pip install codeseek-lsp`);
  });

  it('says why the server stopped, in its own words, when the interpreter is not the problem', async () => {
    const { page, workspaceFile } = session;
    await writeWorkspaceSettings(workspaceFile, {
      'codeseek.serverCommand': [tools.python, '-m', 'codeseek', 'serve', '--no-such-option'],
    });
    const notice = page.locator('.notification-toast', { hasText: 'did not start' });
    await notice.waitFor({ timeout: 30_000 });
    const text = await notice.innerText();
    expect(text).toContain('unrecognized arguments: --no-such-option');
    expect(text).not.toContain('pythonPath');
    await screenshot(page, '10-server-did-not-start');
  });
});
