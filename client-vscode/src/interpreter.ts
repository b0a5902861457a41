/**
 * Which command starts the language server, and what to tell the user when it cannot.
 * Pure: the caller gathers the settings and the Python extension's interpreter.
 */

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

/** Settings first, then the Python extension, then the platform's usual Python. */
export function chooseServerLaunch(inputs: LaunchInputs): ServerLaunch {
  const custom = inputs.serverCommand.map((part) => part.trim()).filter((part) => part !== '');
  if (custom.length > 0) {
    const [command, ...args] = custom.map((part) => expandPath(part, inputs)) as [string, ...string[]];
    return { command, args, source: 'serverCommand' };
  }
  const configured = inputs.pythonPath.trim();
  if (configured !== '') {
    const python = expandPath(configured, inputs);
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

/** The command that installs codeseek into the interpreter the server runs with. */
export function installCommand(python: string, platform: NodeJS.Platform): string {
  return `${shellQuote(python, platform)} -m pip install codeseek`;
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
  | { kind: 'failed'; detail: string };

/** Classify the probe's result: the spawn error code (ENOENT, ...) or the exit code and stderr. */
export function classifyProbe(result: { spawnErrorCode?: string; exitCode: number | null; stderr: string }): ProbeOutcome {
  if (result.spawnErrorCode === 'ENOENT' || result.spawnErrorCode === 'EACCES') {
    return { kind: 'pythonNotFound' };
  }
  if (result.spawnErrorCode) {
    return { kind: 'failed', detail: result.spawnErrorCode };
  }
  if (result.exitCode === 0) {
    return { kind: 'ok' };
  }
  if (result.exitCode === 3) {
    return { kind: 'codeseekMissing' };
  }
  const lastLine = result.stderr.trim().split(/\r?\n/).pop() ?? '';
  return { kind: 'failed', detail: lastLine || `exit code ${String(result.exitCode)}` };
}
