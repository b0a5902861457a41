import { describe, expect, it } from 'vitest';
import {
  chooseServerLaunch,
  classifyProbe,
  describeLaunch,
  expandPath,
  installCommand,
  type LaunchInputs,
  shellQuote,
} from '../../src/interpreter';

function inputs(overrides: Partial<LaunchInputs> = {}): LaunchInputs {
  return {
    serverCommand: [],
    pythonPath: '',
    workspaceFolder: '/work/proj',
    home: '/home/ada',
    env: { VENV: '/opt/venv' },
    platform: 'linux',
    ...overrides,
  };
}

describe('chooseServerLaunch', () => {
  it('runs `python3 -m codeseek serve` when nothing is configured', () => {
    expect(chooseServerLaunch(inputs())).toEqual({
      command: 'python3',
      args: ['-m', 'codeseek', 'serve'],
      source: 'default',
      python: 'python3',
    });
  });

  it('uses `python` on Windows', () => {
    expect(chooseServerLaunch(inputs({ platform: 'win32' })).command).toBe('python');
  });

  it("prefers the Python extension's interpreter over the default", () => {
    const launch = chooseServerLaunch(inputs({ pythonExtensionInterpreter: '/proj/.venv/bin/python' }));
    expect(launch.source).toBe('pythonExtension');
    expect(launch.command).toBe('/proj/.venv/bin/python');
    expect(launch.python).toBe('/proj/.venv/bin/python');
  });

  it('prefers codeseek.pythonPath over the Python extension, expanding variables', () => {
    const launch = chooseServerLaunch(
      inputs({ pythonPath: '${workspaceFolder}/.venv/bin/python', pythonExtensionInterpreter: '/usr/bin/python3' }),
    );
    expect(launch).toMatchObject({ source: 'pythonPath', command: '/work/proj/.venv/bin/python' });
    expect(launch.args).toEqual(['-m', 'codeseek', 'serve']);
  });

  it('runs codeseek.serverCommand as given, with no interpreter to check', () => {
    const launch = chooseServerLaunch(
      inputs({ serverCommand: ['~/bin/codeseek', 'serve', '--tcp', '127.0.0.1:0'], pythonPath: '/usr/bin/python3' }),
    );
    expect(launch).toEqual({
      command: '/home/ada/bin/codeseek',
      args: ['serve', '--tcp', '127.0.0.1:0'],
      source: 'serverCommand',
    });
  });

  it('ignores a serverCommand of blank strings', () => {
    expect(chooseServerLaunch(inputs({ serverCommand: ['  ', ''] })).source).toBe('default');
  });
});

describe('expandPath', () => {
  it('expands ~, ${userHome} and ${env:...}', () => {
    const base = inputs();
    expect(expandPath('~/venv/bin/python', base)).toBe('/home/ada/venv/bin/python');
    expect(expandPath('${userHome}/x', base)).toBe('/home/ada/x');
    expect(expandPath('${env:VENV}/bin/python', base)).toBe('/opt/venv/bin/python');
    expect(expandPath('${env:MISSING}/python', base)).toBe('/python');
  });

  it('leaves ~ inside a path alone', () => {
    expect(expandPath('/a/~b', inputs())).toBe('/a/~b');
  });
});

describe('installCommand', () => {
  it('names the exact interpreter', () => {
    expect(installCommand('/proj/.venv/bin/python', 'linux')).toBe('/proj/.venv/bin/python -m pip install codeseek');
  });

  it('quotes paths with spaces for the platform shell', () => {
    expect(installCommand('/Users/Ada Lovelace/venv/bin/python', 'darwin')).toBe(
      "'/Users/Ada Lovelace/venv/bin/python' -m pip install codeseek",
    );
    expect(installCommand('C:\\Program Files\\Python312\\python.exe', 'win32')).toBe(
      '"C:\\Program Files\\Python312\\python.exe" -m pip install codeseek',
    );
  });

  it("escapes single quotes on POSIX", () => {
    expect(shellQuote("it's", 'linux')).toBe("'it'\\''s'");
  });
});

describe('describeLaunch', () => {
  it('says the command line and where it came from', () => {
    expect(describeLaunch(chooseServerLaunch(inputs({ pythonPath: '/usr/bin/python3' })))).toBe(
      '/usr/bin/python3 -m codeseek serve (from codeseek.pythonPath)',
    );
  });
});

describe('classifyProbe', () => {
  it('tells a missing interpreter, a missing package, success and other failures apart', () => {
    expect(classifyProbe({ spawnErrorCode: 'ENOENT', exitCode: null, stderr: '' })).toEqual({ kind: 'pythonNotFound' });
    expect(classifyProbe({ exitCode: 3, stderr: '' })).toEqual({ kind: 'codeseekMissing' });
    expect(classifyProbe({ exitCode: 0, stderr: '' })).toEqual({ kind: 'ok' });
    expect(classifyProbe({ exitCode: 1, stderr: 'Traceback...\nSyntaxError: bad\n' })).toEqual({
      kind: 'failed',
      detail: 'SyntaxError: bad',
    });
  });
});
