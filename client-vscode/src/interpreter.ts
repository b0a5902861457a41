/**
 * Which command starts the language server, and what to tell the user when it cannot.
 * Pure: the caller gathers the settings and the Python extension's interpreter.
 */
import { posix, win32 } from 'node:path';

export type LaunchSource = 'serverCommand' | 'pythonPath' | 'pythonExtension' | 'default';

export interface ServerLaunch {
  command: string;
  args: string[];
  source: LaunchSource;
  /** The interpreter that must have codeseek installed; absent for a custom serverCommand. */
  python?: string;
}

export interface LaunchInputs {
  serverCommand: readonly string[];
  pythonPath: string;
  /** The interpreter selected in the Python extension, when it is installed and has one. */
  pythonExtensionInterpreter?: string;
  workspaceFolder?: string;
  home: string;
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
}

export const SERVE_ARGS: readonly string[] = ['-m', 'codeseek', 'serve'];

/** `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`, as VS Code users write paths. */
export function expandPath(value: string, inputs: Pick<LaunchInputs, 'workspaceFolder' | 'home' | 'env'>): string {
  let out = value.trim();
  out = out.replace(/\$\{workspaceFolder\}/g, inputs.workspaceFolder ?? '${workspaceFolder}');
  out = out.replace(/\$\{userHome\}/g, inputs.home);
  out = out.replace(/\$\{env:([^}]+)\}/g, (_, name: string) => inputs.env[name] ?? '');
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) {
    out = inputs.home + out.slice(1);
  }
  return out;
}

/**
 * A program path as the user meant it. The server never runs in the workspace folder (see
 * `serverSpawn`), so a relative path such as `.venv/bin/python` is resolved against the
 * first workspace folder here, as it was when the workspace was the working folder. A bare
 * name (`python3`) is still looked up on PATH.
 */
export function resolveProgram(program: string, workspaceFolder: string | undefined, platform: NodeJS.Platform): string {
  const paths = platform === 'win32' ? win32 : posix;
  const isRelativePath = /[\\/]/.test(program) && !paths.isAbsolute(program);
  return isRelativePath && workspaceFolder ? paths.join(workspaceFolder, program) : program;
}

/** Settings first, then the Python extension, then the platform's usual Python. */
export function chooseServerLaunch(inputs: LaunchInputs): ServerLaunch {
  const custom = inputs.serverCommand.map((part) => part.trim()).filter((part) => part !== '');
  if (custom.length > 0) {
    const [program, ...args] = custom.map((part) => expandPath(part, inputs)) as [string, ...string[]];
    return { command: resolveProgram(program, inputs.workspaceFolder, inputs.platform), args, source: 'serverCommand' };
  }
  const configured = inputs.pythonPath.trim();
  if (configured !== '') {
    const python = resolveProgram(expandPath(configured, inputs), inputs.workspaceFolder, inputs.platform);
    return { command: python, args: [...SERVE_ARGS], source: 'pythonPath', python };
  }
  if (inputs.pythonExtensionInterpreter) {
    const python = inputs.pythonExtensionInterpreter;
    return { command: python, args: [...SERVE_ARGS], source: 'pythonExtension', python };
  }
  const python = inputs.platform === 'win32' ? 'python' : 'python3';
  return { command: python, args: [...SERVE_ARGS], source: 'default', python };
}

const LAUNCH_ORIGINS: Record<LaunchSource, string> = {
  serverCommand: 'codeseek.serverCommand',
  pythonPath: 'codeseek.pythonPath',
  pythonExtension: "the Python extension's selected interpreter",
  default: 'the default interpreter',
};

/** Where the launch came from, in the user's terms. */
export function launchOrigin(launch: ServerLaunch): string {
  return LAUNCH_ORIGINS[launch.source];
}

/** The command line and where it came from, for the log. */
export function describeLaunch(launch: ServerLaunch): string {
  const line = [launch.command, ...launch.args].map((part) => shellQuote(part, 'linux')).join(' ');
  return `${line} (from ${launchOrigin(launch)})`;
}

/** Quote one argument for the user's shell, only when it needs it. */
export function shellQuote(arg: string, platform: NodeJS.Platform): string {
  if (/^[\w@%+=:,./\\-]+$/.test(arg)) {
    return arg;
  }
  if (platform === 'win32') {
    return `"${arg.replace(/"/g, '\\"')}"`;
  }
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The PyPI distribution: the name `codeseek` there belongs to an unrelated project. */
export const PYPI_DISTRIBUTION = 'codeseek-lsp';

/** The command that installs codeseek into the interpreter the server runs with. */
export function installCommand(python: string, platform: NodeJS.Platform): string {
  return `${shellQuote(python, platform)} -m pip install ${PYPI_DISTRIBUTION}`;
}

/** A process to start: what `child_process.spawn` and `execFile` take. */
export interface ProcessSpec {
  command: string;
  args: string[];
  options: { cwd: string; env: NodeJS.ProcessEnv };
}

/**
 * How the server is started. Never from the workspace folder: `python -m` puts its working
 * folder first on sys.path, so a workspace with `types.py`, `json.py` or `logging.py` at its
 * root would be imported in place of the standard library (the server dies at start-up), and
 * one with `codeseek.py` would run instead of codeseek. `neutralDir` is an empty folder that
 * codeseek owns. Not `-I`: it also drops the user site-packages (`pip install --user`) and
 * PYTHONPATH, which `codeseek.pythonPath` users rely on; not `-P`: Python 3.10 refuses it.
 * A working folder works with every interpreter and a custom `codeseek.serverCommand` too.
 */
export function serverSpawn(launch: ServerLaunch, neutralDir: string, env: NodeJS.ProcessEnv): ProcessSpec {
  return { command: launch.command, args: [...launch.args], options: { cwd: neutralDir, env } };
}

/** The probe runs where the server will: from the workspace, `find_spec` would find its codeseek.py. */
export function probeSpawn(python: string, neutralDir: string, env: NodeJS.ProcessEnv): ProcessSpec {
  return { command: python, args: [...PROBE_ARGS], options: { cwd: neutralDir, env } };
}

/** The Python snippet that tells whether codeseek is importable (exit 0) or not (exit 3). */
export const PROBE_ARGS: readonly string[] = [
  '-c',
  'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("codeseek") else 3)',
];

export type ProbeOutcome =
  | { kind: 'ok' }
  | { kind: 'pythonNotFound' }
  | { kind: 'codeseekMissing' }
  | { kind: 'failed'; detail: string; stderr: string };

/** Classify the probe's result: the spawn error code (ENOENT, ...) or the exit code and stderr. */
export function classifyProbe(result: { spawnErrorCode?: string; exitCode: number | null; stderr: string }): ProbeOutcome {
  if (result.spawnErrorCode === 'ENOENT' || result.spawnErrorCode === 'EACCES') {
    return { kind: 'pythonNotFound' };
  }
  if (result.spawnErrorCode) {
    return { kind: 'failed', detail: result.spawnErrorCode, stderr: result.stderr };
  }
  if (result.exitCode === 0) {
    return { kind: 'ok' };
  }
  if (result.exitCode === 3) {
    return { kind: 'codeseekMissing' };
  }
  const detail = crashSummary(result.stderr) ?? `exit code ${String(result.exitCode)}`;
  return { kind: 'failed', detail, stderr: result.stderr };
}

/**
 * The line of a crashed server's stderr that says why: the exception of the last
 * traceback, or codeseek's own one-line error, else the last line it wrote.
 */
export function crashSummary(stderr: string): string | undefined {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const reasons = lines.filter(
    (line) => /^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b:?/.test(line) || /^codeseek: /.test(line),
  );
  return reasons[reasons.length - 1] ?? lines[lines.length - 1];
}

/** Keeps the last lines a process wrote, for a message after it stops. */
export class OutputTail {
  private text = '';

  constructor(private readonly maxChars = 8_000) {}

  append(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.maxChars);
  }

  clear(): void {
    this.text = '';
  }

  toString(): string {
    return this.text;
  }
}
