import { spawn } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import * as os from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import {
  type CancellationToken,
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  type LanguageClientOptions,
  type ResponseError,
  LanguageClient,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
  type StaticFeature,
  Trace,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import {
  chooseServerLaunch,
  crashSummary,
  describeLaunch,
  installCommand,
  launchOrigin,
  OutputTail,
  probeSpawn,
  type ProcessSpec,
  type ServerLaunch,
  serverSpawn,
} from './interpreter';
import { Methods, type IndexStatus } from './protocol';
import { onPythonInterpreterChanged, probeCodeseek, pythonExtensionInterpreter } from './python';
import {
  LAUNCH_SETTING_KEYS,
  SERVER_SETTING_KEYS,
  type ServerSettingKey,
  type ServerSettings,
  serverSettings,
  settingsSection,
} from './settings';
import type { StatusBar } from './status';
import { traceForLogLevel } from './statusView';

/** Where the Voyage key is kept in VS Code's SecretStorage. */
export const VOYAGE_SECRET_KEY = 'codeseek.voyageApiKey';

const RESTART_DEBOUNCE_MS = 750;
const SETTINGS_DEBOUNCE_MS = 300;
const STATUS_POLL_MS = 2_000;
const STOP_TIMEOUT_MS = 3_000;
/** More crashes than this within the window and we stop restarting and say so. */
const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 3 * 60_000;

/** Thrown by `request` when there is no running server to ask. */
export class ServerUnavailableError extends Error {}

/**
 * Owns the language server process: finds the interpreter, starts the client, forwards
 * settings, restarts on change or crash, and keeps the status bar in step.
 */
export class CodeseekServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private settingsTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private crashTimes: number[] = [];
  /** Why the server is not running, for commands that need it. */
  private unavailableReason = 'the codeseek server has not started yet';
  private launch: ServerLaunch | undefined;
  /** What the server wrote to stderr since it last started: the pop-up after a crash quotes it. */
  private readonly stderrTail = new OutputTail();
  /** Resolves when the last server process has exited and closed its output. */
  private serverClosed: Promise<void> = Promise.resolve();
  /** Whether the last server process answered `initialize`. */
  private serverRan = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly status: StatusBar,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (LAUNCH_SETTING_KEYS.some((key) => event.affectsConfiguration(`codeseek.${key}`))) {
          this.scheduleRestart('the server settings changed');
        } else if (SERVER_SETTING_KEYS.some((key) => event.affectsConfiguration(`codeseek.${key}`))) {
          this.scheduleSettingsPush();
        }
      }),
      // One server serves every folder: the client forwards added and removed folders to it.
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.onFoldersChanged()),
      context.secrets.onDidChange((event) => {
        if (event.key === VOYAGE_SECRET_KEY) {
          this.scheduleRestart('the Voyage API key changed');
        }
      }),
      log.onDidChangeLogLevel(() => this.applyTrace()),
    );
    void onPythonInterpreterChanged(() => {
      if (this.launch?.source === 'pythonExtension' || this.launch?.source === 'default') {
        this.scheduleRestart("the Python extension's interpreter changed");
      }
    }).then((disposable) => disposable && this.disposables.push(disposable));
  }

  /**
   * The settings the server gets: only what the user set, so `codeseek.toml` still applies.
   * One server serves every folder with one set of settings: the first folder's, as for
   * the interpreter (its own, else the workspace's, else the user's). Adding a folder
   * therefore changes nothing for the first; another folder that needs other settings
   * says so in its `codeseek.toml`.
   */
  currentSettings(): ServerSettings {
    const config = vscode.workspace.getConfiguration('codeseek', this.folder()?.uri);
    return serverSettings((key: ServerSettingKey) => {
      const inspected = config.inspect(key);
      return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    });
  }

  start(): Promise<void> {
    this.starting ??= this.startOnce().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async stop(): Promise<void> {
    clearTimeout(this.statusTimer);
    const client = this.client;
    this.client = undefined;
    if (!client) {
      return;
    }
    this.stopping = true;
    try {
      if (client.isRunning()) {
        await client.stop(STOP_TIMEOUT_MS);
      }
    } catch (error) {
      this.log.warn(`The server did not stop cleanly: ${errorMessage(error)}`);
    } finally {
      await client.dispose().catch(() => undefined);
      this.stopping = false;
    }
  }

  async restart(reason: string): Promise<void> {
    clearTimeout(this.restartTimer);
    this.log.info(`Restarting the server: ${reason}`);
    await this.starting?.catch(() => undefined);
    await this.stop();
    this.crashTimes = [];
    await this.start();
  }

  /** Restart once things settle: a settings edit or key change can fire several events. */
  scheduleRestart(reason: string): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.restart(reason), RESTART_DEBOUNCE_MS);
  }

  /** Send a request to the server, waiting for it to finish starting if it is. */
  async request<R>(method: string, params: unknown, token?: CancellationToken): Promise<R> {
    await this.starting;
    const client = this.client;
    if (!client?.isRunning()) {
      throw new ServerUnavailableError(this.unavailableReason);
    }
    // An explicit `undefined` token would be sent as a second positional parameter.
    return token ? client.sendRequest<R>(method, params, token) : client.sendRequest<R>(method, params);
  }

  /** Ask the server for the index's state and show it. */
  async refreshStatus(): Promise<IndexStatus | undefined> {
    clearTimeout(this.statusTimer);
    try {
      const indexStatus = await this.request<IndexStatus>(Methods.status, {});
      this.status.setIndexStatus(indexStatus);
      // Work the server does without progress (a watcher event, a save) still shows.
      if (indexStatus.state === 'indexing' && !this.status.hasProgress) {
        this.statusTimer = setTimeout(() => void this.refreshStatus(), STATUS_POLL_MS);
      }
      return indexStatus;
    } catch (error) {
      if (!(error instanceof ServerUnavailableError)) {
        this.log.warn(`codeseek/status failed: ${errorMessage(error)}`);
      }
      return undefined;
    }
  }

  /** The first folder: its interpreter and launch settings start the one server. */
  private folder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.[0];
  }

  private async chooseLaunch(folder: vscode.WorkspaceFolder): Promise<ServerLaunch> {
    const config = vscode.workspace.getConfiguration('codeseek', folder.uri);
    const serverCommand = config.get<string[]>('serverCommand', []);
    const pythonPath = config.get<string>('pythonPath', '');
    const usesSettings = serverCommand.some((part) => part.trim() !== '') || pythonPath.trim() !== '';
    return chooseServerLaunch({
      serverCommand,
      pythonPath,
      pythonExtensionInterpreter: usesSettings ? undefined : await pythonExtensionInterpreter(folder.uri, this.log),
      workspaceFolder: folder.uri.fsPath,
      home: os.homedir(),
      env: process.env,
      platform: process.platform,
    });
  }

  /**
   * Folders added or removed: the running server hears of it from the client. Restart only
   * when there is no server yet, no folder left, or the first folder now asks for another
   * interpreter.
   */
  private async onFoldersChanged(): Promise<void> {
    const folder = this.folder();
    if (!folder || !this.client) {
      this.scheduleRestart('the workspace folders changed');
      return;
    }
    const launch = await this.chooseLaunch(folder);
    if (launch.command !== this.launch?.command || launch.args.join('\0') !== this.launch.args.join('\0')) {
      this.scheduleRestart('the workspace folders changed the server command');
    }
  }

  /**
   * An empty folder that codeseek owns, for the server to run in (see `serverSpawn`): under
   * the extension's global storage, else a new private temporary folder.
   */
  private async neutralDirectory(): Promise<string> {
    const dir = join(this.context.globalStorageUri.fsPath, 'server-cwd');
    try {
      await mkdir(dir, { recursive: true });
      return dir;
    } catch (error) {
      this.log.warn(`Cannot create ${dir} (${errorMessage(error)}); the server runs from a temporary folder.`);
      return mkdtemp(join(os.tmpdir(), 'codeseek-'));
    }
  }

  private async startOnce(): Promise<void> {
    const folder = this.folder();
    if (!folder) {
      this.unavailableReason = 'open a folder to search it with codeseek';
      this.status.set({ kind: 'noWorkspace' });
      this.log.info('No folder is open; the server starts when one is.');
      return;
    }
    this.status.set({ kind: 'starting' });
    const launch = await this.chooseLaunch(folder);
    this.launch = launch;
    const neutralDir = await this.neutralDirectory();
    this.log.info(`Server command: ${describeLaunch(launch)}, run from ${neutralDir}`);
    const env = await this.serverEnvironment();

    if (launch.python && !(await this.checkInstalled(launch, probeSpawn(launch.python, neutralDir, env)))) {
      return;
    }

    const spec = serverSpawn(launch, neutralDir, env);
    // Started here rather than by the client, to keep the tail of its stderr for the
    // message after a crash; the client still copies all of it to the output channel.
    // Stdio is what `codeseek serve` speaks by default (no `--stdio` argument).
    const serverOptions: ServerOptions = () => this.spawnServer(spec);
    const client = new QuietLanguageClient('codeseek', 'codeseek', serverOptions, this.clientOptions());
    client.registerFeature(new IndexProgressFeature(client, this.status, () => void this.refreshStatus()));
    this.client = client;
    // Also after the client restarts a crashed server by itself. Not awaited: requests
    // wait for the start to finish, and this runs while it is finishing.
    client.onDidChangeState(({ newState }) => {
      if (newState === State.Running) {
        this.serverRan = true;
        this.applyTrace();
        void this.refreshStatus();
      }
    });
    try {
      await client.start();
    } catch (error) {
      await this.reportStartFailure(errorMessage(error));
      return;
    }
    // start() can also resolve when the server died during `initialize`.
    if (!client.isRunning()) {
      await this.reportStartFailure('it exited during start-up');
      return;
    }
    this.log.info('Server started.');
  }

  private spawnServer(spec: ProcessSpec): Promise<ReturnType<typeof spawn>> {
    this.stderrTail.clear();
    this.serverRan = false;
    const child = spawn(spec.command, spec.args, { ...spec.options, stdio: 'pipe' });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => this.stderrTail.append(chunk));
    this.serverClosed = new Promise((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => resolve(child));
      child.once('error', (error) => reject(new Error(`cannot run ${spec.command}: ${error.message}`)));
    });
  }

  /**
   * The server exited before it answered `initialize`: say why in its own words (its last
   * stderr line, once it has all been read), not with a guess about the interpreter.
   */
  private async reportStartFailure(fallback: string): Promise<void> {
    await Promise.race([this.serverClosed, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    const why = crashSummary(this.stderrTail.toString()) ?? fallback;
    this.fail(`the server did not start: ${why}`);
    this.showServerFailure(`codeseek: the language server did not start: ${why}`);
  }

  private showServerFailure(message: string): void {
    void vscode.window.showErrorMessage(message, 'Show Logs', 'Restart Server').then((choice) => {
      if (choice === 'Show Logs') {
        this.log.show();
      } else if (choice === 'Restart Server') {
        void this.restart('restart requested');
      }
    });
  }

  private clientOptions(): LanguageClientOptions {
    return {
      // Hover and re-indexing on save apply to every file the server indexes. No
      // `workspaceFolder`: the client then sends every folder, and later changes, to it.
      documentSelector: [{ scheme: 'file' }],
      outputChannel: this.log,
      traceOutputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: this.currentSettings(),
      // A failed `initialize` is reported by `reportStartFailure`, with the server's reason.
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
          handled: true,
        }),
        closed: () => this.onServerClosed(),
      },
      middleware: {
        workspace: {
          // The server may pull its settings; answer with the same explicit-only view.
          configuration: async (params, token, next): Promise<unknown[] | ResponseError> => {
            const settings = this.currentSettings();
            const answers = (await next(params, token)) as unknown[] | ResponseError;
            if (!Array.isArray(answers)) {
              return answers;
            }
            const defaults: unknown[] = answers;
            return params.items.map((item, i): unknown =>
              item.section === undefined || item.section === 'codeseek' || item.section.startsWith('codeseek.')
                ? settingsSection(settings, item.section)
                : defaults[i],
            );
          },
        },
      },
    };
  }

  private onServerClosed(): { action: CloseAction; handled: boolean } {
    if (this.stopping) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    if (!this.serverRan) {
      // It died before answering `initialize` (a broken install, a bad setting): starting
      // it again would only die again. During `startOnce` its catch reports it; after a
      // restart by the client, nothing else would.
      if (!this.starting) {
        void this.reportStartFailure('it exited during start-up');
      }
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    if (this.crashTimes.length <= MAX_CRASHES) {
      this.log.warn(`The server stopped unexpectedly; restarting it (${this.crashTimes.length}/${MAX_CRASHES}).`);
      this.status.set({ kind: 'starting' });
      return { action: CloseAction.Restart, handled: true };
    }
    this.fail(`the server stopped ${this.crashTimes.length} times in ${CRASH_WINDOW_MS / 60_000} minutes`);
    // Its own last words, not a guess: the interpreter is fine when it got this far.
    const why = crashSummary(this.stderrTail.toString());
    this.showServerFailure(
      why ? `codeseek: the language server keeps stopping: ${why}` : 'codeseek: the language server keeps stopping. The logs say why.',
    );
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  /** The environment of the server: the editor's, plus the Voyage key from secret storage. */
  private async serverEnvironment(): Promise<NodeJS.ProcessEnv> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    const voyageKey = await this.context.secrets.get(VOYAGE_SECRET_KEY);
    if (voyageKey) {
      env.VOYAGE_API_KEY = voyageKey;
    }
    return env;
  }

  /** True when the interpreter can import codeseek; otherwise tell the user how to fix it, once. */
  private async checkInstalled(launch: ServerLaunch, probe: ProcessSpec): Promise<boolean> {
    const python = probe.command;
    const outcome = await probeCodeseek(probe);
    if (outcome.kind === 'ok') {
      return true;
    }
    const where = launchOrigin(launch);
    if (outcome.kind === 'codeseekMissing') {
      const install = installCommand(python, process.platform);
      this.fail(`codeseek is not installed in ${python}`);
      this.log.error(`codeseek is not installed in ${python} (${where}). Install it with: ${install}`);
      void vscode.window
        .showErrorMessage(
          `codeseek is not installed in ${python}. Install it with: ${install}`,
          'Copy Install Command',
          'Choose Interpreter',
        )
        .then(async (choice) => {
          if (choice === 'Copy Install Command') {
            await vscode.env.clipboard.writeText(install);
          } else if (choice === 'Choose Interpreter') {
            await vscode.commands.executeCommand('workbench.action.openSettings', 'codeseek.pythonPath');
          }
        });
    } else if (outcome.kind === 'pythonNotFound') {
      const problem = `Python was not found at ${python}`;
      this.fail(problem);
      this.log.error(`${problem} (${where}).`);
      void vscode.window
        .showErrorMessage(`codeseek: ${problem}. Set codeseek.pythonPath to a Python with codeseek installed.`, 'Open Settings')
        .then((choice) => {
          if (choice) {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'codeseek.pythonPath');
          }
        });
    } else {
      // The interpreter exists and ran: another one is not the fix, so say what it said.
      const problem = `${python} failed: ${outcome.detail}`;
      this.fail(problem);
      this.log.error(`${problem} (${where}). Its output:\n${outcome.stderr.trim()}`);
      void vscode.window.showErrorMessage(`codeseek: ${problem}`, 'Show Logs').then((choice) => {
        if (choice) {
          this.log.show();
        }
      });
    }
    return false;
  }

  private fail(reason: string): void {
    this.unavailableReason = reason;
    this.status.set({ kind: 'error', message: reason });
    this.log.error(`Server unavailable: ${reason}`);
  }

  private scheduleSettingsPush(): void {
    clearTimeout(this.settingsTimer);
    this.settingsTimer = setTimeout(() => {
      const client = this.client;
      if (!client?.isRunning()) {
        return;
      }
      const settings = this.currentSettings();
      this.log.info('Sending changed settings to the server.');
      client
        .sendNotification(DidChangeConfigurationNotification.type, { settings })
        .then(() => this.refreshStatus())
        .catch((error: unknown) => this.log.warn(`Could not send settings: ${errorMessage(error)}`));
    }, SETTINGS_DEBOUNCE_MS);
  }

  /** The LSP trace follows the output channel's log level (Trace: full messages, Debug: names). */
  private applyTrace(): void {
    const client = this.client;
    if (client?.isRunning()) {
      void client.setTrace(Trace.fromString(traceForLogLevel(this.log.logLevel)));
    }
  }

  dispose(): void {
    clearTimeout(this.restartTimer);
    clearTimeout(this.settingsTimer);
    clearTimeout(this.statusTimer);
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
    void this.stop();
  }
}

/**
 * The language client, minus its own pop-ups. It forces generic ones ("couldn't create
 * connection to server", "Restarting server failed") that would stand beside, or before,
 * ours, which say why in the server's words and what to do; everything still goes to the
 * output channel.
 */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown, _showNotification?: boolean | 'force'): void {
    super.error(message, data, false);
  }
}

/**
 * Shows the server's work-done progress (indexing) in the status bar rather than as a
 * notification. Registered after the client's built-in progress feature, so its handler
 * for `window/workDoneProgress/create` replaces that one.
 */
class IndexProgressFeature implements StaticFeature {
  constructor(
    private readonly client: LanguageClient,
    private readonly status: StatusBar,
    private readonly onEnd: () => void,
  ) {}

  fillClientCapabilities(capabilities: { window?: { workDoneProgress?: boolean } }): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const key = String(token);
      const listener = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
        switch (value.kind) {
          case 'begin':
            this.status.beginProgress(key, { title: value.title, message: value.message, percentage: value.percentage });
            break;
          case 'report':
            this.status.reportProgress(key, { message: value.message, percentage: value.percentage });
            break;
          case 'end':
            listener.dispose();
            this.status.endProgress(key);
            this.onEnd();
            break;
        }
      });
      return null;
    });
  }

  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }

  clear(): void {
    // Progress the server never ended (it stopped) must not leave a spinner behind.
    this.status.endAllProgress();
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
