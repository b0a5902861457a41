import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { classifyProbe, type ProbeOutcome, type ProcessSpec } from './interpreter';

/** The part of the Python extension's API we use (ms-python.python, `environments`). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(
      env: { path: string } | string,
    ): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

const PYTHON_EXTENSION_ID = 'ms-python.python';
const PYTHON_EXTENSION_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 30_000;

function withTimeout<T>(promise: Thenable<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

async function pythonApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (!extension) {
    return undefined;
  }
  const api = extension.isActive
    ? extension.exports
    : await withTimeout(extension.activate(), PYTHON_EXTENSION_TIMEOUT_MS);
  return api?.environments ? api : undefined;
}

/** The interpreter selected in the Python extension for `resource`, or undefined. */
export async function pythonExtensionInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string | undefined> {
  try {
    const environments = (await pythonApi())?.environments;
    const active = environments?.getActiveEnvironmentPath(resource);
    if (!environments || !active?.path) {
      return undefined;
    }
    const resolved = await withTimeout(environments.resolveEnvironment(active), PYTHON_EXTENSION_TIMEOUT_MS);
    return resolved?.executable?.uri?.fsPath ?? active.path;
  } catch (error) {
    // The Python extension is optional: fall back to the default interpreter.
    log.warn(`Could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Fires when the user selects another interpreter in the Python extension. */
export async function onPythonInterpreterChanged(listener: () => void): Promise<vscode.Disposable | undefined> {
  try {
    const event = (await pythonApi())?.environments?.onDidChangeActiveEnvironmentPath;
    return event ? event(() => listener()) : undefined;
  } catch {
    return undefined;
  }
}

/** Ask the interpreter whether it can import codeseek, without starting the server (`probeSpawn`). */
export function probeCodeseek(probe: ProcessSpec): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    execFile(probe.command, probe.args, { ...probe.options, timeout: PROBE_TIMEOUT_MS }, (error, _stdout, stderr) => {
      let spawnErrorCode =
        error && typeof (error as NodeJS.ErrnoException).code === 'string'
          ? (error as NodeJS.ErrnoException).code
          : undefined;
      if (error?.killed) {
        spawnErrorCode = `no answer within ${PROBE_TIMEOUT_MS / 1000} s`;
      }
      const exitCode = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve(classifyProbe({ spawnErrorCode, exitCode, stderr: String(stderr) }));
    });
  });
}
