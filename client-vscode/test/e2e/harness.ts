/**
 * Runs a real VS Code for the end-to-end suite: code-server on 127.0.0.1 with the packaged
 * extension installed, driven through headless Chromium by playwright-core.
 *
 * Tools come from `scripts/install-e2e-tools.sh`; paths can be overridden with
 * CODE_SERVER, CHROMIUM, CODESEEK_E2E_PYTHON, CODESEEK_E2E_SERVER_COMMAND (a JSON array
 * that replaces `python -m codeseek serve`) and CODESEEK_E2E_ARTIFACTS.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';

const run = promisify(execFile);

export const EXTENSION_ROOT = resolve(__dirname, '..', '..');
export const REPO_ROOT = resolve(EXTENSION_ROOT, '..');
export const FIXTURE = join(__dirname, 'fixture');
/** Files named like standard-library modules (and codeseek itself), put at the workspace's root. */
export const SHADOWING = join(REPO_ROOT, 'tests', 'data', 'shadowing');
/** The second folder of the multi-root workspace. */
export const SECOND_FOLDER = join(__dirname, 'fixture-timekeeping');
export const VSIX = join(EXTENSION_ROOT, 'dist', 'codeseek.vsix');
export const ARTIFACTS = process.env.CODESEEK_E2E_ARTIFACTS ?? join(REPO_ROOT, 'test-artifacts', 'vscode-e2e');

const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Tools {
  codeServer: string;
  chromium: string;
  python: string;
}

/** The tools the suite needs, or a message saying how to install what is missing. */
export function findTools(): Tools | string {
  const codeServer = process.env.CODE_SERVER ?? join(homedir(), '.cache', 'codeseek-e2e', 'bin', 'code-server');
  const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  const venvPython = join(REPO_ROOT, '.venv', 'bin', 'python');
  const python = process.env.CODESEEK_E2E_PYTHON ?? (existsSync(venvPython) ? venvPython : 'python3');
  const missing = [
    [codeServer, 'code-server'],
    [chromiumPath, 'chromium'],
    [VSIX, 'the packaged extension (npm run package)'],
  ].filter(([path]) => !existsSync(path as string));
  if (missing.length > 0) {
    return (
      `missing ${missing.map(([path, what]) => `${what} at ${path}`).join(', ')}; ` +
      'run client-vscode/scripts/install-e2e-tools.sh and npm run package'
    );
  }
  return { codeServer, chromium: chromiumPath, python };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForHttp(url: string, process: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) {
      throw new Error(`code-server exited with ${process.exitCode}; see ${ARTIFACTS}/code-server.log`);
    }
    try {
      const response = await fetch(url);
      if (response.ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer at ${url} within ${timeoutMs / 1000} s`);
}

export interface Session {
  page: Page;
  /** code-server's address, ending in `/`. */
  url: string;
  /** The temporary folder holding the workspace, the user data and the index. */
  root: string;
  workspace: string;
  /** The saved multi-root workspace (`.code-workspace`) the window has open; it holds the settings. */
  workspaceFile: string;
  userDataDir: string;
  close(): Promise<void>;
}

/**
 * A fresh VS Code: its own user data, extensions and a copy of the fixture workspace,
 * opened as a saved workspace (`.code-workspace`) whose settings point the extension at
 * `python` (or at CODESEEK_E2E_SERVER_COMMAND). A saved workspace, because adding a folder
 * to a single-folder window makes VS Code reload into an untitled workspace, which in
 * code-server sometimes comes back with no folder at all; in a saved one the folder is
 * added in place and the running extension is told, as in a user's multi-root setup.
 * The workspace's root also holds `types.py`, `logging.py`, `json.py` and `codeseek.py`,
 * which break a server started with the workspace as its working folder.
 */
export async function openVSCode(tools: Tools): Promise<Session> {
  // Artifacts describe the latest run only.
  await rm(ARTIFACTS, { recursive: true, force: true });
  await mkdir(ARTIFACTS, { recursive: true });
  const root = await mkdtemp(join(tmpdir(), 'codeseek-e2e-'));
  const userDataDir = join(root, 'user-data');
  const extensionsDir = join(root, 'extensions');
  const workspace = join(root, 'workspace');
  await cp(FIXTURE, workspace, { recursive: true });
  await cp(SHADOWING, workspace, { recursive: true });
  await mkdir(join(userDataDir, 'User'), { recursive: true });
  await writeFile(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'security.workspace.trust.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'update.mode': 'none',
      'git.enabled': false,
      'editor.hover.delay': 150,
      'editor.minimap.enabled': false,
    }),
  );
  const workspaceFile = join(root, 'e2e.code-workspace');
  await writeFile(workspaceFile, JSON.stringify({ folders: [{ path: workspace }], settings: {} }, null, 2));
  await writeWorkspaceSettings(workspaceFile, serverSettings(tools.python, join(root, 'index')));

  const configFile = join(root, 'code-server.yaml');
  await writeFile(configFile, 'auth: none\n');
  const common = ['--config', configFile, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  await run(tools.codeServer, [...common, '--install-extension', VSIX], { timeout: 120_000 });

  const port = await freePort();
  const log = createWriteStream(join(ARTIFACTS, 'code-server.log'));
  const codeServer = spawn(
    tools.codeServer,
    [
      ...common,
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      workspaceFile,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CODESEEK_STORE: join(root, 'index') },
      // Its own process group, so stopping it also stops the extension host, file
      // watcher and language server it started.
      detached: true,
    },
  );
  const stopCodeServer = async (): Promise<void> => {
    if (codeServer.exitCode !== null || codeServer.pid === undefined) {
      return;
    }
    const exited = new Promise((resolveExit) => codeServer.once('exit', resolveExit));
    try {
      process.kill(-codeServer.pid, 'SIGTERM');
    } catch {
      return; // Already gone.
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    try {
      process.kill(-codeServer.pid, 'SIGKILL');
    } catch {
      // Everything exited on SIGTERM.
    }
  };
  codeServer.stdout?.pipe(log);
  codeServer.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}/`;
  let browser: Browser | undefined;
  try {
    await waitForHttp(`${url}healthz`, codeServer, 60_000);
    browser = await chromium.launch({ executablePath: tools.chromium, headless: true, args: CHROMIUM_FLAGS });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    const page = await context.newPage();
    await page.goto(`${url}?workspace=${encodeURIComponent(workspaceFile)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    return {
      page,
      url,
      root,
      workspace,
      workspaceFile,
      userDataDir,
      close: async () => {
        await browser?.close().catch(() => undefined);
        await stopCodeServer();
        await cp(join(userDataDir, 'logs'), join(ARTIFACTS, 'vscode-logs'), { recursive: true }).catch(() => undefined);
        await rm(root, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
      },
    };
  } catch (error) {
    await browser?.close().catch(() => undefined);
    await stopCodeServer();
    throw error;
  }
}

/** How the fixture workspace starts the server: the real one through `python`, unless overridden. */
export function serverSettings(python: string, storePath: string): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    'codeseek.pythonPath': python,
    'codeseek.store.path': storePath,
    'codeseek.embedder.provider': 'local',
  };
  if (process.env.CODESEEK_E2E_SERVER_COMMAND) {
    settings['codeseek.serverCommand'] = JSON.parse(process.env.CODESEEK_E2E_SERVER_COMMAND) as string[];
  }
  return settings;
}

/**
 * Add a folder to the open workspace the way a user does (Workspaces: Add Folder to
 * Workspace..., the path typed into code-server's file dialog). The window stays open: the
 * extension and its server carry on, told of the new folder.
 */
export async function addFolderToWorkspace(page: Page, folder: string): Promise<void> {
  await runCommand(page, 'Workspaces: Add Folder to Workspace...');
  const input = page.locator('.quick-input-widget input');
  try {
    // The dialog opens at a folder of its choosing and may set its path after we typed
    // ours (seen: it reset to the workspace file's folder), so type it again until it
    // stays. Typing a folder's path opens it in the dialog; it has no subfolders, so only
    // ".." is listed once it has. Accepting earlier would add whatever it showed before.
    const target = folder.endsWith('/') ? folder : folder + '/';
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await expect
      .poll(
        async () => {
          if ((await input.inputValue()) !== target) {
            await input.fill(target);
          }
          return (await rows.allInnerTexts()).map((t) => t.trim());
        },
        { timeout: 30_000, interval: 500 },
      )
      .toEqual(['..']);
    await expect.poll(() => input.inputValue()).toBe(target);
    await page.locator('.quick-input-widget .monaco-button', { hasText: /^Add$/ }).click();
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: basename(folder) }).first().waitFor();
  } catch (error) {
    await screenshot(page, 'add-folder-failed');
    throw error;
  }
}

/** The chunk count in the status bar, once it shows one (not while indexing). */
export async function statusBarChunks(page: Page): Promise<number | undefined> {
  const text = await codeseekStatusItem(page).innerText();
  const match = /([\d,]+) chunks/.exec(text);
  return match ? Number(match[1]!.replace(/,/g, '')) : undefined;
}

/** Replace the settings of the saved workspace, keeping its folders (VS Code rewrites the file as folders are added). */
export async function writeWorkspaceSettings(workspaceFile: string, settings: Record<string, unknown>): Promise<void> {
  const current = JSON.parse(await readFile(workspaceFile, 'utf8')) as { folders: unknown[]; settings?: unknown };
  await writeFile(workspaceFile, JSON.stringify({ ...current, settings }, null, 2));
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Run a command by its palette title, the way a user does. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await input.press('Enter');
}

/** Open a workspace file through Quick Open. */
export async function openFile(page: Page, name: string): Promise<void> {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(name);
  // Enter once the first row is the file: the list may still show the previous matches.
  // Not a click: a tooltip left by an earlier step can sit over the row and take it.
  const first = page.locator('.quick-input-list .monaco-list-row').first();
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await expect.poll(() => first.getAttribute('aria-label'), { timeout: 30_000 }).toMatch(new RegExp(`^${escaped} `));
  await input.press('Enter');
  await page.locator('.tab.active', { hasText: name }).waitFor();
}

/** The extension's status bar item (its DOM id is `<extension id>.<item id>`). */
export function codeseekStatusItem(page: Page): Locator {
  return page.locator('.statusbar-item[id="codeseek.codeseek.codeseek.status"]');
}

/** The 1-based line of the cursor, from the "Ln 12, Col 1" status bar item. */
export async function cursorLine(page: Page): Promise<number> {
  const text = await page.locator('[id="status.editor.selection"]').innerText();
  const match = /Ln (\d+)/.exec(text);
  if (!match) {
    throw new Error(`no cursor position in the status bar: ${text}`);
  }
  return Number(match[1]);
}

/** The extension's output channel so far (client and server logs), for failure messages. */
export async function extensionLog(session: Session): Promise<string> {
  const logs = join(session.userDataDir, 'logs');
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.name === 'codeseek.log') {
        found.push(path);
      }
    }
  };
  await walk(logs);
  const texts = await Promise.all(found.map((path) => readFile(path, 'utf8')));
  return texts.join('\n');
}

/**
 * Wait until the status bar shows an index with chunks; fail at once, with the
 * extension's log, if it shows the error state instead.
 */
export async function waitForIndex(session: Session, timeoutMs: number): Promise<string> {
  const item = codeseekStatusItem(session.page);
  const ready = item.filter({ hasText: /[1-9][\d,]* chunks/ });
  const failed = item.filter({ has: session.page.locator('.codicon-error') });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await ready.or(failed).waitFor({ timeout: Math.max(1, deadline - Date.now()) });
    if (await ready.isVisible()) {
      return ready.innerText();
    }
    if (await failed.isVisible()) {
      const tooltip = (await failed.getAttribute('aria-label')) ?? '';
      const log = (await extensionLog(session)).split('\n').slice(-30).join('\n');
      throw new Error(`the codeseek status bar shows an error (${tooltip}); extension log:\n${log}`);
    }
    // Neither any more: the item changed between the two looks (the chunk count of the
    // first phase, then the embedding progress). Wait for the next state.
  }
}
